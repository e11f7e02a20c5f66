"""What the fitting jobs (`eft-jax fit`, `eft-jax smplify`) share: their inputs, and their logged,
resumable output.

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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from eft_jax import body, nets
from eft_jax.datasets.coco_keypoints import iter_coco_exemplars, read_coco_keypoints
from eft_jax.fitting import Exemplar, FitResult
from eft_jax.formats.exemplar_npz import is_skip, iter_exemplars_npz, read_exemplars_npz
from eft_jax.formats.fit_log import FitLog, done_ids, finalize
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


def read_inputs(inputs: FitInputs, crop_size: int, skipped: list) -> tuple[list[str], Iterator[dict]]:
    """(ids in input order, iterator over exemplar dicts and skip records); exemplars dropped
    while reading (crowds, ...) are appended to `skipped` as skip records."""
    if inputs.crops_npz is not None:
        arrays = read_exemplars_npz(inputs.crops_npz)
        stream = iter_exemplars_npz(arrays)
        count = arrays["images"].shape[0]
        ids = [str(i) for i in arrays["ids"]] if "ids" in arrays else [f"{i:06d}" for i in range(count)]
        return ids, stream
    people, dropped = read_coco_keypoints(inputs.keypoints_json, inputs.images_dir)
    skipped.extend(dropped)
    return [p.id for p in people], iter_coco_exemplars(people, inputs.images_dir, res=crop_size)


def fit_and_write(
    job: str,
    inputs: FitInputs,
    out_json: Path,
    fit: Callable[[Iterable[Exemplar]], Iterator[FitResult]],
    *,
    crop_size: int,
    model: body.BodyModel,
    header: dict,
    description: str,
) -> dict:
    """Read `inputs`, fit what the log at `<out_json>.log.jsonl` does not hold yet with `fit`
    (exemplars in, FitResults in any order out), log each result as it comes, and write the EFT
    JSON. `header` identifies the run in the log (a resumed run must match it)."""
    start = time.perf_counter()
    out_json = Path(out_json)
    dropped: list[dict] = []
    order, stream = read_inputs(inputs, crop_size, dropped)
    log_path = log_path_for(out_json)
    header = {"input": inputs.describe(), **header, "body_model": model.source, "crop_size": crop_size}
    already = done_ids(log_path) if log_path.exists() else set()
    progress = Progress(total=len(order), already_done=len(already & set(order)))
    print(
        f"eft-jax {job}: {len(order)} exemplars from {inputs.describe()}"
        + (f" ({len(already)} already done, resuming from {log_path})" if already else "")
        + f"; {description}",
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
        for result in fit(fittable()):
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
        meta={k: v for k, v in header.items() if k not in ("input", "body_model", "crop_size")},
    )
    elapsed = time.perf_counter() - start
    print(f"eft-jax {job}: wrote {out_json} ({elapsed:.1f} s); per-exemplar log in {log_path}", file=sys.stderr)
    return summary
