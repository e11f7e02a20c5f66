"""`eft-jax fit`: EFT over a set of exemplars, written as EFT-format JSON.

Inputs: a folder of images with a COCO-format keypoint file (people are cropped as SPIN does), or
an `.npz` of crops with SPIN-49 keypoints (`eft_jax.formats.exemplar_npz`). Results go to a
JSON-lines log next to the output as each exemplar finishes; a rerun with the same inputs and
config resumes from it, so every exemplar is fitted exactly once. When the stream ends the log
is assembled into the EFT JSON, in input order, with skipped exemplars listed with reasons.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jax
import ml_collections

from eft_jax import body, nets
from eft_jax.datasets.coco_keypoints import iter_coco_exemplars, read_coco_keypoints
from eft_jax.formats.exemplar_npz import is_skip, iter_exemplars_npz, read_exemplars_npz
from eft_jax.formats.fit_log import FitLog, done_ids, finalize
from eft_jax.fitting import Exemplar
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.progress import Progress


class FitInputError(ValueError):
    """The command line names no input, or two kinds of input at once."""


@dataclasses.dataclass
class FitInputs:
    """What to fit. Exactly one of (images_dir + keypoints_json) or crops_npz."""

    images_dir: Path | None = None
    keypoints_json: Path | None = None
    crops_npz: Path | None = None

    def __post_init__(self):
        coco = self.images_dir is not None or self.keypoints_json is not None
        if coco == (self.crops_npz is not None):
            raise FitInputError("give either --images DIR with --keypoints FILE.json, or --crops FILE.npz")
        if coco and (self.images_dir is None or self.keypoints_json is None):
            raise FitInputError("--images and --keypoints go together")

    def describe(self) -> str:
        if self.crops_npz is not None:
            return str(self.crops_npz)
        return f"{self.keypoints_json} (images in {self.images_dir})"


def log_path_for(out_json: Path) -> Path:
    return out_json.with_name(out_json.name + ".log.jsonl")


def load_regressor(checkpoint: str | None):
    """(regressor, variables, where it came from, its input size): a restored checkpoint, or the
    bundled regressor (trained on synthetic humans of the bundled open body model)."""
    if checkpoint is not None:
        restored = nets.restore_regressor(checkpoint)
        source = str(checkpoint)
    else:
        restored = nets.bundled_regressor()
        source = "bundled (eft_jax/nets/assets/synthetic_regressor)"
    return restored.regressor, restored.variables, source, nets.input_size(restored.record)


def _exemplars(inputs: FitInputs, crop_size: int, skipped: list) -> tuple[list[str], Iterator[dict]]:
    """(ids in input order, iterator over exemplar dicts and skip records)."""
    if inputs.crops_npz is not None:
        arrays = read_exemplars_npz(inputs.crops_npz)
        stream = iter_exemplars_npz(arrays)
        count = arrays["images"].shape[0]
        ids = [str(i) for i in arrays["ids"]] if "ids" in arrays else [f"{i:06d}" for i in range(count)]
        return ids, stream
    people, dropped = read_coco_keypoints(inputs.keypoints_json, inputs.images_dir)
    skipped.extend(dropped)
    return [p.id for p in people], iter_coco_exemplars(people, inputs.images_dir, res=crop_size)


def run_fit(
    inputs: FitInputs,
    out_json: Path,
    config: ml_collections.ConfigDict,
    *,
    checkpoint: str | None = None,
    body_model_path: str | None = None,
    crop_size: int | None = None,
) -> dict:
    """Fit `inputs` and write `out_json`. `crop_size` defaults to the regressor's input size."""
    start = time.perf_counter()
    out_json = Path(out_json)
    model = body.load(body_model_path)
    regressor, variables, regressor_source, trained_size = load_regressor(checkpoint)
    crop_size = trained_size if crop_size is None else crop_size
    # Plain EFT when config.hypotheses == 1 (the engine's own stream); multi-start EFT otherwise.
    fitter = MultiStartEft(regressor, variables, model, config, image_size=crop_size)

    dropped: list[dict] = []
    order, stream = _exemplars(inputs, crop_size, dropped)
    log_path = log_path_for(out_json)
    header = {
        "input": inputs.describe(),
        "config": config.to_dict(),
        "regressor": regressor_source,
        "body_model": model.source,
        "crop_size": crop_size,
    }
    already = done_ids(log_path) if log_path.exists() else set()
    progress = Progress(total=len(order), already_done=len(already & set(order)))
    print(
        f"eft-jax fit: {len(order)} exemplars from {inputs.describe()}"
        + (f" ({len(already)} already done, resuming from {log_path})" if already else "")
        + f"; {fitter.batch_size} slots, lowering {fitter.engine.lowering}, {len(fitter.hypotheses)} hypotheses, "
        f"on {jax.default_backend()}",
        file=sys.stderr,
    )

    in_flight: dict[str, dict] = {}

    def fittable() -> Iterator[Exemplar]:
        for item in stream:
            if item["id"] in already:
                continue
            if is_skip(item):
                log.append_skip(item)
                progress.update()
                continue
            in_flight[item["id"]] = item
            yield Exemplar(item["id"], item["image"], item["keypoints"])

    with FitLog(log_path, header=header) as log:
        for result in fitter.fit_stream(fittable()):
            exemplar = in_flight.pop(result.id)
            log.append(result, {k: v for k, v in exemplar.items() if k != "image"})
            progress.update()
    progress.close()

    summary = finalize(
        log_path,
        out_json,
        order,
        body_kind=model.kind,
        body_model=model.source,
        skipped=dropped,
        dbname=inputs.describe(),
        meta={"regressor": regressor_source, "config": config.to_dict()},
    )
    elapsed = time.perf_counter() - start
    print(f"eft-jax fit: wrote {out_json} ({elapsed:.1f} s); per-exemplar log in {log_path}", file=sys.stderr)
    return summary
