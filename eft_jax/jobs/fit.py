"""`eft-jax fit`: EFT over a set of exemplars, written as EFT-format JSON (and SPIN's npz).

Inputs (`FitInputs`, exactly one kind): a dataset by name under a root folder (`--dataset coco
--root DIR [--split ...] [--selection ...]`, see `eft_jax.datasets.registry`; `--dataset tfds` reads
crops prepared by `eft_jax.datasets.people_tfds`), a folder of images
with a COCO-format keypoint file, or an `.npz` of crops with SPIN-49 keypoints
(`eft_jax.formats.exemplar_npz`). Every input folder and annotation file is read and checked
before the body model, the regressor or the compiler are touched.

Runs at scale:
- results go to a JSON-lines fit log next to the output as each exemplar finishes (one log per
  process); a rerun with the same inputs and config resumes from the logs, so every exemplar is
  fitted exactly once;
- a lock (`formats.run_lock`) stops a second run on the same output and process index with a
  message naming the running one;
- several processes share the work: process i of n fits the exemplars whose input position is
  i mod n (`--process-index/--process-count`, default from EFT_JAX_PROCESS_INDEX /
  EFT_JAX_PROCESS_COUNT, else from `jax.process_index()/process_count()`, which reflect
  `jax.distributed`); the process that finds every exemplar done writes the EFT JSON;
- JAX's persistent compilation cache (`compilation_cache_dir`) lets a restarted run skip
  compilation.
When every exemplar is done the logs are assembled into the EFT JSON, in input order, with
skipped exemplars listed with reasons.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import ml_collections

from eft_jax import body, nets
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.registry import DatasetSource, open_coco_files, open_dataset
from eft_jax.fitting import EftEngine, Exemplar, fit_stream
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.formats.exemplar import is_skip
from eft_jax.formats.exemplar_npz import iter_exemplars_npz, read_exemplars_npz
from eft_jax.formats.fit_log import (
    FitLog,
    FitLogError,
    finalize,
    read_fit_log,
    read_fit_log_header,
    to_jsonable,
)
from eft_jax.formats.run_lock import RunLock
from eft_jax.formats.spin_npz import write_spin_npz
from eft_jax.geometry import CROP_SIZE
from eft_jax.progress import Progress


def default_cache_dir() -> str:
    """The CLI's compilation cache: $EFT_JAX_COMPILATION_CACHE, else ~/.cache/eft-jax/jax-compilation."""
    return os.environ.get(
        "EFT_JAX_COMPILATION_CACHE", str(Path.home() / ".cache" / "eft-jax" / "jax-compilation")
    )


class FitInputError(ValueError):
    """The command line names no input, or two kinds of input at once."""


@dataclasses.dataclass
class FitInputs:
    """What to fit: a dataset (dataset + root), images_dir + keypoints_json, or crops_npz."""

    images_dir: Path | None = None
    keypoints_json: Path | None = None
    crops_npz: Path | None = None
    dataset: str | None = None
    root: Path | None = None
    split: str | None = None
    selection: str | None = None

    def __post_init__(self):
        coco = self.images_dir is not None or self.keypoints_json is not None
        named = self.dataset is not None or self.root is not None
        if coco + named + (self.crops_npz is not None) != 1:
            raise FitInputError(
                "give one input: --dataset NAME --root DIR, --images DIR with --keypoints FILE.json, "
                "or --crops FILE.npz"
            )
        if coco and (self.images_dir is None or self.keypoints_json is None):
            raise FitInputError("--images and --keypoints go together")
        if named and (self.dataset is None or self.root is None):
            raise FitInputError("--dataset and --root go together")
        if self.split is not None and not named:
            raise FitInputError("--split goes with --dataset")
        if self.selection is not None and self.crops_npz is not None:
            raise FitInputError("--selection goes with --dataset or --images/--keypoints")


@dataclasses.dataclass
class InputStream:
    """The read inputs: ids in input order, a description, and the exemplars of a subset."""

    order: list[str]
    description: str
    image_prefix: str = ""  # SPIN's imgname = image_prefix + imageName (DatasetSource)
    crop_size: int | None = None  # the side of prepared crops (TFDS): the size they are fitted at
    _source: DatasetSource | None = None
    _arrays: dict | None = None
    _records: object = None  # a prepared TFDS data source

    def exemplars(self, wanted: set[str], crop_size: int) -> Iterator[Exemplar | dict]:
        """Exemplars and skip records of the ids in `wanted`, in input order (only those are
        cropped or decoded)."""
        if self._arrays is not None:
            return (item for item in iter_exemplars_npz(self._arrays) if _item_id(item) in wanted)
        if self._records is not None:
            from eft_jax.datasets.people_tfds import record_exemplar  # tfds only when used

            return (
                record_exemplar(self._records[i])
                for i, id_ in enumerate(self.order)
                if id_ in wanted
            )
        items = [item for item in self._source.items if _item_id(item) in wanted]
        return iter_exemplars(items, self._source.images_dir, res=crop_size)


def _item_id(item) -> str:
    return str(item["id"] if isinstance(item, dict) else item.id)


def read_inputs(inputs: FitInputs) -> InputStream:
    """Read and check every input file (raises DatasetError / ExemplarFileError / CocoFormatError)."""
    if inputs.crops_npz is not None:
        arrays = read_exemplars_npz(inputs.crops_npz)
        return InputStream([str(i) for i in arrays["ids"]], str(inputs.crops_npz), _arrays=arrays)
    if inputs.dataset == "tfds":
        if inputs.split is not None or inputs.selection is not None:
            raise FitInputError(
                "a prepared TFDS dataset has no --split or --selection (they were chosen when preparing it)"
            )
        from eft_jax.datasets.people_tfds import (  # tfds only when used
            open_prepared,
            prepared_crop_size,
        )

        records = open_prepared(inputs.root)
        order = [record["id"].decode() for record in records]
        size = prepared_crop_size(records)
        return InputStream(order, f"tfds {inputs.root}", crop_size=size, _records=records)
    if inputs.dataset is not None:
        source = open_dataset(inputs.dataset, inputs.root, inputs.split, inputs.selection)
    else:
        source = open_coco_files(inputs.images_dir, inputs.keypoints_json, inputs.selection)
    return InputStream(source.ids, source.description, source.image_prefix, _source=source)


def log_path_for(out_json: Path, process_index: int = 0, process_count: int = 1) -> Path:
    """The fit log of one process: `<out>.log.jsonl`, or `<out>.log-<i>of<n>.jsonl` for n > 1."""
    if process_count == 1:
        return out_json.with_name(out_json.name + ".log.jsonl")
    return out_json.with_name(f"{out_json.name}.log-{process_index}of{process_count}.jsonl")


def all_log_paths(out_json: Path) -> list[Path]:
    """Every fit log of an output (all process counts a run was started with), sorted."""
    return sorted(p for p in out_json.parent.glob(out_json.name + ".log*.jsonl") if p.is_file())


def process_share() -> tuple[int, int]:
    """(index, count) of this process: EFT_JAX_PROCESS_INDEX / EFT_JAX_PROCESS_COUNT when set,
    otherwise jax's (which reflect `jax.distributed.initialize`)."""
    if "EFT_JAX_PROCESS_COUNT" in os.environ:
        return int(os.environ.get("EFT_JAX_PROCESS_INDEX", "0")), int(
            os.environ["EFT_JAX_PROCESS_COUNT"]
        )
    return jax.process_index(), jax.process_count()


def enable_compilation_cache(cache_dir: str | Path | None) -> Path | None:
    """Use JAX's persistent compilation cache in `cache_dir` ("" or None: leave JAX's setting).
    Every compiled program is kept (no minimum compile time), so a restart compiles nothing."""
    from jax.experimental.compilation_cache import compilation_cache

    if not cache_dir:
        return None
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != str(cache_dir):
        compilation_cache.reset_cache()  # JAX opens its cache once per process; reopen it here
        jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return cache_dir


BODY_OPTION_HINT = {
    "smpl": "pass --body with a SMPL model file (e.g. --body models/SMPL_NEUTRAL.pkl)",
    "open": "leave out --body (the bundled open body model is the default)",
}


def load_regressor(checkpoint: str | None, model: body.BodyModel | None = None):
    """(regressor, variables, where it came from, its input size): a restored checkpoint, or the
    bundled regressor (trained on synthetic humans of the bundled open body model).

    With `model`, a regressor that predicts another body model's parameters (a converted SPIN
    checkpoint with the bundled open body, say) is refused with FitInputError."""
    if checkpoint is not None:
        restored = nets.restore_regressor(checkpoint)
        source = str(checkpoint)
    else:
        restored = nets.bundled_regressor()
        source = "bundled (eft_jax/nets/assets/synthetic_regressor)"
    predicts = nets.predicted_body_kind(restored.record)
    if model is not None and predicts is not None and predicts != model.kind:
        raise FitInputError(
            f"the regressor {source} predicts parameters of the {predicts} body model, but the body "
            f"model is {model.source} ({model.kind}); {BODY_OPTION_HINT.get(predicts, 'choose the matching --body')}"
        )
    return restored.regressor, restored.variables, source, nets.trained_input_size(restored.record)


@dataclasses.dataclass
class FitMethod:
    """How a fitting job turns exemplars into FitResults: EFT (`eft_method`, the default) or
    another method that reads the same inputs and writes the same outputs (`eft-jax smplify`).

    build(model, regressor, variables, crop_size) -> (fit, description): `fit` maps an iterable of
    Exemplars to FitResults (any order); regressor and variables are None unless
    `needs_regressor`. `header`: extra fields identifying the run in the logs and the EFT JSON's meta."""

    name: str
    build: Callable
    needs_regressor: bool = True
    header: dict = dataclasses.field(default_factory=dict)


def eft_method(
    config: ml_collections.ConfigDict, *, record: dict | None = None, on_point=None
) -> FitMethod:
    """EFT with the batched engine. `record` and `on_point` pass trajectory points of chosen
    exemplars on (`fitting.fit_stream`; the demo's Figure-1 strips)."""

    def build(model, regressor, variables, crop_size):
        if int(config.get("hypotheses", 1)) > 1:  # multi-start EFT (fitting/multistart.py)
            if record:
                raise FitInputError(
                    "trajectories (the demo's Figure-1 strips) are recorded by single-start EFT only: "
                    "set hypotheses=1 or strips=0"
                )
            fitter = MultiStartEft(regressor, variables, model, config, image_size=crop_size)
            engine, fit = fitter.engine, fitter.fit_stream
        else:
            engine = EftEngine(regressor, variables, model, config, image_size=crop_size)
            fit = lambda exemplars: fit_stream(exemplars, engine, record=record, on_point=on_point)  # noqa: E731
        description = (
            f"{engine.batch_size} slots, lowering {engine.lowering}, {config.get('hypotheses', 1)} hypotheses, "
            f"on {jax.default_backend()}"
        )
        return fit, description

    return FitMethod("fit", build)


def run_fit(
    inputs: FitInputs,
    out_json: Path,
    config: ml_collections.ConfigDict,
    *,
    method: FitMethod | None = None,
    checkpoint: str | None = None,
    body_model_path: str | None = None,
    crop_size: int | None = None,
    spin_npz: Path | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    compilation_cache_dir: str | Path | None = None,
) -> dict:
    """Fit this process's share of `inputs`; write `out_json` (and `spin_npz`) when all is done.

    Returns finalize's summary, or {'path': None, 'waiting': n} when other processes still have
    n exemplars to fit. `method`: EFT (default) or another `FitMethod`."""
    method = eft_method(config) if method is None else method
    start = time.perf_counter()
    out_json = Path(out_json)
    if process_index is None or process_count is None:
        default_index, default_count = process_share()
        process_index = default_index if process_index is None else process_index
        process_count = default_count if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise FitInputError(f"process index {process_index} is not in 0..{process_count - 1}")
    stream = read_inputs(inputs)  # every input file is checked before anything heavy happens
    if stream.crop_size is not None and crop_size not in (None, stream.crop_size):
        raise FitInputError(f"the crops were prepared at {stream.crop_size} px, not {crop_size} px")
    crop_size = stream.crop_size or crop_size
    log_path = log_path_for(out_json, process_index, process_count)

    with RunLock(log_path):
        enable_compilation_cache(compilation_cache_dir)
        model = body.load(body_model_path)
        regressor = variables = None
        regressor_source = "none"
        if method.needs_regressor:
            regressor, variables, regressor_source, trained_size = load_regressor(checkpoint, model)
            crop_size = trained_size if crop_size is None else crop_size
        crop_size = CROP_SIZE if crop_size is None else crop_size
        header = {
            "input": stream.description,
            "config": config.to_dict(),
            "regressor": regressor_source,
            "body_model": model.source,
            "crop_size": crop_size,
            **method.header,
        }
        _check_other_logs(out_json, log_path, header)
        already = {r["id"] for path in all_log_paths(out_json) for r in read_fit_log(path)}
        mine = [i for n, i in enumerate(stream.order) if n % process_count == process_index]
        todo = set(mine) - already
        if todo:
            fit, description = method.build(model, regressor, variables, crop_size)
            _fit_share(
                stream,
                todo,
                fit,
                description,
                method.name,
                log_path,
                header,
                crop_size,
                len(mine),
                process_index,
                process_count,
            )

    missing = set(stream.order) - {
        r["id"] for path in all_log_paths(out_json) for r in read_fit_log(path)
    }
    if missing:
        print(
            f"eft-jax {method.name}: process {process_index} of {process_count} is done; {len(missing)} exemplars "
            f"are still with other processes; the last one to finish writes {out_json}",
            file=sys.stderr,
        )
        return {"path": None, "waiting": len(missing)}
    summary = finalize(
        all_log_paths(out_json),
        out_json,
        stream.order,
        body_kind=model.kind,
        body_model=model.source,
        dbname=stream.description,
        meta={"regressor": regressor_source, "config": config.to_dict(), **method.header},
    )
    if spin_npz is not None:
        write_spin_npz(out_json, spin_npz, stream.image_prefix)
    elapsed = time.perf_counter() - start
    print(
        f"eft-jax {method.name}: wrote {out_json} ({elapsed:.1f} s); per-exemplar logs {out_json.name}.log*.jsonl",
        file=sys.stderr,
    )
    return summary


def _check_other_logs(out_json: Path, own_log: Path, header: dict) -> None:
    """The logs of other processes (or process counts) must come from the same job: their
    results count as done here."""
    expected = to_jsonable(header)
    for path in all_log_paths(out_json):
        theirs = read_fit_log_header(path)
        if path != own_log and theirs is not None and theirs != expected:
            raise FitLogError(
                f"{path}: written by a different run (header {theirs} != {expected}); "
                "use another --out or delete the old logs"
            )


def _fit_share(
    stream,
    todo,
    fit,
    description,
    job,
    log_path,
    header,
    crop_size,
    share_size,
    process_index,
    process_count,
):
    progress = Progress(total=share_size, already_done=share_size - len(todo))
    who = f" (process {process_index} of {process_count})" if process_count > 1 else ""
    print(
        f"eft-jax {job}: {len(stream.order)} exemplars from {stream.description}{who}; {len(todo)} to fit"
        f"; {description}",
        file=sys.stderr,
    )
    in_flight: dict[str, Exemplar] = {}
    with FitLog(log_path, header=header) as log:

        def fittable() -> Iterator[Exemplar]:
            for item in stream.exemplars(todo, crop_size):
                if is_skip(item):
                    log.append_skip(item)
                    progress.update()
                    continue
                in_flight[str(item.id)] = item
                yield item

        for result in fit(fittable()):
            exemplar = in_flight.pop(str(result.id))
            log.append(result, exemplar.log_fields())
            progress.update()
    progress.close()
