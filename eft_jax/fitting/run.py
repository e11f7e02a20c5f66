"""Run plumbing of the fitting jobs (`eft-jax fit`, `smplify`, the demo): a `FitMethod` over
`FitInputs`, at scale.

    run_fitting(FitInputs(crops_npz=path), Path("fits.json"), config, method=eft_method(config))

- results go to a JSON-lines fit log next to the output as each exemplar finishes (one log per
  process), which each process seals into fixed-size result shards as it goes
  (`formats.result_shards`, `<out>.shards/`); a rerun with the same inputs and config resumes
  from them, so every exemplar is fitted exactly once;
- a lock (`formats.run_lock`) stops a second run on the same output and process index with a
  message naming the running one; it is taken before any existing output is touched (`fresh`
  removes the earlier logs and EFT JSON under it; the demo holds it for its whole run);
- logs written with other settings are refused before anything else, naming the settings;
- SIGINT / SIGTERM stop the run at the next step boundary (`fitting.stopping`): what is fitted
  stays in the log, the lock is released, and a rerun resumes;
- the run ends with a `RunOutcome`: fitted, skipped with their reasons, failed, time, where the
  output is, or how many exemplars are still with other processes; `summary_line()` says it in
  one line;
- several processes share the work: process i of n fits the exemplars whose input position is
  i mod n (`process_index/process_count`, default from EFT_JAX_PROCESS_INDEX /
  EFT_JAX_PROCESS_COUNT, else from `jax.process_index()/process_count()`); the process that finds
  every exemplar done writes the EFT JSON;
- under `jax.distributed` (`fitting.distributed`) the share is the runtime's, the run's lock is
  process 0's for every process (flock and the coordination service), progress is printed by
  process 0, and the hand-over is a barrier after which process 0 writes the outputs;
- JAX's persistent compilation cache (`compilation_cache_dir`) lets a restarted run skip
  compilation;
- the regressor is the given checkpoint or the bundled one (`nets.load_regressor`); the EFT
  recipe it carries is printed when the run starts and recorded in the logs' header and the EFT
  JSON's meta (`regressor_recipe`).
When every exemplar is done the run's index (id -> shard and row, in input order) is written and
the EFT JSON (and SPIN npz) streamed from the shards (`formats.result_exports`), in input order,
with skipped exemplars listed with reasons.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import ml_collections

from eft_jax import body, nets
from eft_jax.fitting.distributed import Cluster
from eft_jax.fitting.engine import EftEngine
from eft_jax.fitting.exemplar import Exemplar, check_camera
from eft_jax.fitting.inputs import FitInputError, FitInputs, read_inputs
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.fitting.quality import QualityScorer
from eft_jax.fitting.recipe import checkpoint_recipe
from eft_jax.fitting.stopping import StopRequests
from eft_jax.fitting.stream import fit_stream
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import FitLog, header_change, read_fit_log_header, to_jsonable
from eft_jax.formats.result_exports import export_eft_json, export_spin_npz
from eft_jax.formats.result_shards import (
    FAILED,
    FITTED,
    ResultIndex,
    RunIndex,
    ShardWriter,
    index_results,
    shards_dir,
    write_run_index,
)
from eft_jax.formats.run_lock import RunLock
from eft_jax.geometry import CROP_SIZE
from eft_jax.progress import Progress, note

COMPILING = "compiling the fitting step, ~30 s the first time"
# Slots below which a GPU's or TPU's step is dominated by kernel launches (docs/capacity.md); the
# default, 2 slots in each of 2 lanes, is the CPU's best.
ACCELERATOR_SLOTS = 64


# Settings that schedule the work without changing any fit (fitting.fit_stream's lanes, the
# iterations of one call of the engine's step): left out of the fit log's header, so a run
# resumes under another value.
SCHEDULING_ONLY = ("lanes", "iterations_per_call")


def default_cache_dir() -> str:
    """The CLI's compilation cache: $EFT_JAX_COMPILATION_CACHE, else ~/.cache/eft-jax/jax-compilation."""
    return os.environ.get(
        "EFT_JAX_COMPILATION_CACHE", str(Path.home() / ".cache" / "eft-jax" / "jax-compilation")
    )


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


@dataclasses.dataclass
class FitMethod:
    """How a fitting job turns exemplars into FitResults: EFT (`eft_method`, the default) or
    another method that reads the same inputs and writes the same outputs (`eft-jax smplify`).

    build(model, regressor, variables, crop_size) -> (fit, description, batch_size): `fit` maps an
    iterable of Exemplars to FitResults (any order), at most `batch_size` at a time; regressor and
    variables are None unless `needs_regressor`. `header`: extra fields identifying the run in the logs and the EFT JSON's meta.
    quality_method: the quality calibration's model that scores its fits (`fitting.quality`);
    max_iters: the iterations a fit may use at most (the `quality_iterations_fraction` signal)."""

    name: str
    build: Callable
    needs_regressor: bool = True
    header: dict = dataclasses.field(default_factory=dict)
    quality_method: str = "eft"
    max_iters: int = 0


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
            fitter = MultiStartEft(regressor, variables, model, config, crop_size=crop_size)
            engine, fit = fitter.engine, fitter.fit_stream
        else:
            engine = EftEngine(regressor, variables, model, config, crop_size=crop_size)
            fit = lambda exemplars: fit_stream(exemplars, engine, record=record, on_point=on_point)  # noqa: E731
        hypotheses = int(config.get("hypotheses", 1))
        description = (
            f"lowering {engine.lowering}, {hypotheses} "
            f"{'hypothesis' if hypotheses == 1 else 'hypotheses'}, on {jax.default_backend()}"
        )
        if engine.camera != "crop":
            description += f", camera {engine.camera}"
        return fit, description, engine.batch_size

    return FitMethod("fit", build, max_iters=int(config.max_iters))


@dataclasses.dataclass
class RunOutcome:
    """What a fitting run did: the counts of its output (or of this process's share, while other
    processes still have `waiting` exemplars), its time, and the signal that stopped it, if one did.
    `skipped` counts skip reasons by their first part (`no crop box`, `image unreadable`)."""

    job: str
    out_json: Path
    fitted: int = 0
    skipped: Counter = dataclasses.field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0
    waiting: int = 0
    share: str = ""
    interrupted: int | None = None
    written_by: str = ""

    def counts(self) -> str:
        """`3 fitted, 2 skipped (1 crowd annotation (iscrowd=1), 1 image unreadable), 0 failed, 4.2 s`"""
        skipped = sum(self.skipped.values())
        top = self.skipped.most_common(3)
        reasons = ", ".join(f"{count} {reason}" for reason, count in top)
        if len(self.skipped) > len(top):
            reasons += ", ..."
        reasons = f" ({reasons})" if reasons else ""
        return (
            f"{self.fitted} fitted, {skipped} skipped{reasons}, {self.failed} failed, "
            f"{self.seconds:.1f} s"
        )

    def summary_line(self, where: str | None = None) -> str:
        """The run's one summary line; `where` replaces "wrote <out_json>"."""
        prefix = f"eft-jax {self.job}: "
        if self.interrupted is not None:
            return f"{prefix}interrupted: {self.fitted} fitted, rerun the same command to resume"
        if self.waiting:
            exemplars = "exemplar" if self.waiting == 1 else "exemplars"
            return (
                f"{prefix}{self.share} finished its share: {self.counts()}; {self.waiting} "
                f"{exemplars} still with other processes; the last to finish writes {self.out_json}"
            )
        if self.written_by:
            return f"{prefix}{self.share} fitted its share: {self.counts()}; {self.written_by}"
        return f"{prefix}{self.counts()}; {where or f'wrote {self.out_json}'}"


def _count(outcome: RunOutcome, outcomes) -> RunOutcome:
    """Tally records' outcomes (`formats.result_shards.outcome`: fitted, failed or a skip reason)."""
    for result in outcomes:
        if result == FITTED:
            outcome.fitted += 1
        elif result == FAILED:
            outcome.failed += 1
        else:
            outcome.skipped[result] += 1
    return outcome


def _results(out_json: Path) -> ResultIndex:
    """Where the latest record of each exemplar is, over every log of the output and its shards."""
    return index_results(shards_dir(out_json), all_log_paths(out_json))


def run_fitting(
    inputs: FitInputs,
    out_json: Path,
    config: ml_collections.ConfigDict,
    *,
    method: FitMethod,
    checkpoint: str | None = None,
    body_model_path: str | None = None,
    crop_size: int | None = None,
    spin_npz: Path | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    compilation_cache_dir: str | Path | None = None,
    fresh: bool = False,
    held_lock: RunLock | None = None,
    quality_calibration: str | Path | None = None,
) -> RunOutcome:
    """Fit this process's share of `inputs`; write `out_json` (and `spin_npz`) when all is done.

    `method`: EFT (`eft_method`) or another `FitMethod`. `fresh`: start over, removing the
    output's EFT JSON and the logs of every process first (under the lock). `held_lock`: the
    caller already holds this output's lock (`RunLock(log_path_for(out_json))`; the demo).
    `quality_calibration`: the quality score's calibration file (`eft-jax calibrate`); None: the
    bundled one. Every fit is logged with its quality signals and score (`fitting.quality`)."""
    start = time.perf_counter()
    out_json = Path(out_json)
    check_camera(config.get("camera", "crop"))  # a slip is refused before any file is touched
    cluster = Cluster.current()
    if cluster is not None:
        if {process_index, process_count} - {None} and (process_index, process_count) != (
            cluster.index,
            cluster.count,
        ):
            raise FitInputError(
                f"this is {cluster.describe()} under jax.distributed: its share is the runtime's, "
                f"not process {process_index} of {process_count}"
            )
        process_index, process_count = cluster.index, cluster.count
    elif process_index is None or process_count is None:
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
    outcome = RunOutcome(method.name, out_json)

    def remove_earlier_outputs() -> None:
        for previous in [out_json, *all_log_paths(out_json)]:
            previous.unlink(missing_ok=True)
        shutil.rmtree(shards_dir(out_json), ignore_errors=True)

    if held_lock is not None:
        lock = contextlib.nullcontext()
    elif cluster is not None:  # process 0 removes (fresh) before granting the others the lock
        lock = cluster.run_lock(
            RunLock(log_path_for(out_json)), remove_earlier_outputs if fresh else lambda: None
        )
    else:
        lock = RunLock(log_path)
    with lock:
        if fresh and cluster is None:
            remove_earlier_outputs()
        cache = enable_compilation_cache(compilation_cache_dir)
        model = body.load(body_model_path)
        regressor = variables = None
        regressor_fields = {"regressor": "none"}
        if method.needs_regressor:
            loaded = nets.load_regressor(checkpoint, model)
            regressor, variables = loaded.regressor, loaded.variables
            crop_size = loaded.input_size if crop_size is None else crop_size
            regressor_fields = {
                "regressor": loaded.source,
                "regressor_recipe": checkpoint_recipe(loaded.record),
            }
            _print_recipe(method.name, loaded.source, regressor_fields["regressor_recipe"], config)
        crop_size = CROP_SIZE if crop_size is None else crop_size
        header = {
            "input": stream.description,
            "config": {k: v for k, v in config.to_dict().items() if k not in SCHEDULING_ONLY},
            **regressor_fields,
            "body_model": model.source,
            "crop_size": crop_size,
            **method.header,
        }
        _check_logs(out_json, header)
        quality = QualityScorer(
            model,
            method=method.quality_method,
            max_iters=method.max_iters,
            calibration=quality_calibration,
            regressor=regressor,
            variables=variables,
        )
        if log_path.exists():  # what a killed run (or an eft-jax before shards) left unsealed
            ShardWriter(shards_dir(out_json), log_path).seal()
        already = set(_results(out_json).where)
        mine = [i for n, i in enumerate(stream.order) if n % process_count == process_index]
        todo = set(mine) - already

        def share_progress():
            if cluster is None:
                return Progress(total=len(mine), already_done=len(mine) - len(todo))
            return cluster.progress(len(stream.order), len(already & set(stream.order)))

        progress = None
        if todo:
            fit, description, batch_size = method.build(model, regressor, variables, crop_size)
            who = f" (process {process_index} of {process_count})" if process_count > 1 else ""
            note(
                f"eft-jax {method.name}: {len(stream.order)} exemplars from {stream.description}"
                f"{who}; {len(todo)} to fit, {min(batch_size, len(todo))} at a time; {description}"
            )
            if jax.default_backend() != "cpu" and batch_size < ACCELERATOR_SLOTS:
                note(
                    f"eft-jax {method.name}: {batch_size} exemplars at a time leave a "
                    f"{jax.default_backend()} mostly idle; --batch-size {ACCELERATOR_SLOTS} or more "
                    "(what fits in its memory: docs/capacity.md) fits many times more per second"
                )
            cached = "cached for the next run" if cache else "the compilation cache is off"
            note(f"eft-jax {method.name}: {COMPILING}; {cached}")
            progress = share_progress()
            outcome.interrupted = _fit_share(
                stream,
                todo,
                fit,
                quality,
                log_path,
                shards_dir(out_json),
                header,
                crop_size,
                progress,
            )
        if cluster is not None:
            outcome.interrupted = cluster.hand_over(
                outcome.interrupted, progress or share_progress()
            )

    results = _results(out_json)
    outcome.seconds = time.perf_counter() - start
    if outcome.interrupted is not None:
        return _count(outcome, (r for r in results.outcomes.values() if r in (FITTED, FAILED)))
    if cluster is not None and cluster.index != 0:
        outcome.share = cluster.describe()
        outcome.written_by = f"process 0 wrote {out_json}"
        return _count(outcome, (results.outcomes[i] for i in mine if i in results.outcomes))
    missing = set(stream.order) - set(results.where)
    if missing and cluster is not None:  # every share was done: a log went missing meanwhile
        raise cluster.not_written(f"{len(missing)} exemplars are in no fit log of {out_json}")
    if missing:
        outcome.waiting = len(missing)
        outcome.share = f"process {process_index} of {process_count}"
        return _count(outcome, (results.outcomes[i] for i in mine if i in results.outcomes))
    eft_json = {
        "body_kind": model.kind,
        "body_model": model.source,
        "dbname": stream.description,
        "meta": {
            **regressor_fields,
            "config": config.to_dict(),
            **method.header,
            "quality_calibration": quality.source,
        },
    }
    with contextlib.nullcontext() if cluster is None else cluster.writing_outputs():
        write_run_index(
            shards_dir(out_json),
            results,
            stream.order,
            eft_json=to_jsonable(eft_json),
            image_prefix=stream.image_prefix,
        )
        run = RunIndex.open(shards_dir(out_json))
        export_eft_json(run, out_json)
        if spin_npz is not None:
            export_spin_npz(run, spin_npz)
    outcome.seconds = time.perf_counter() - start
    return _count(outcome, results.outcomes.values())


def _print_recipe(job: str, source: str, recipe: dict, config: ml_collections.ConfigDict) -> None:
    """One line naming the EFT recipe the regressor carries (fitting/recipe.py), when a run starts."""
    carried = ", ".join(f"{k}={v}" for k, v in recipe.items()) or "none (EFT's paper recipe)"
    unused = " (not applied: recipe=paper)" if recipe and config.get("recipe") == "paper" else ""
    note(f"eft-jax {job}: regressor {source}; EFT recipe it carries: {carried}{unused}")


def _check_logs(out_json: Path, header: dict) -> None:
    """Every log of the output (this process's and the others') must come from the same job:
    their results count as done here. Checked before anything is fitted or written."""
    expected = to_jsonable(header)
    for path in all_log_paths(out_json):
        theirs = read_fit_log_header(path)
        if theirs is not None and theirs != expected:
            raise header_change(path, theirs, expected)


def _fit_share(
    stream, todo, fit, quality, log_path, shards, header, crop_size, progress
) -> int | None:
    """Fit and log the exemplars of `todo`, sealing the log into result shards as it grows;
    returns the signal that stopped it early, if any."""
    in_flight: dict[str, Exemplar] = {}
    with FitLog(log_path, header=header) as log, StopRequests() as stop:
        sealer = ShardWriter(shards, log_path)

        def fittable() -> Iterator[Exemplar]:
            for item in stream.exemplars(todo, crop_size):
                if isinstance(item, Skip):
                    sealer.add(log.append_skip(item), log.end)
                    progress.update()
                    continue
                in_flight[str(item.id)] = item
                yield item

        for result in fit(fittable()):
            exemplar = in_flight.pop(str(result.id))
            fields = {**vars(result), **quality.fields(result, exemplar)}
            sealer.add(log.append(fields, exemplar.log_fields()), log.end)
            progress.update()
            if stop.signal is not None:
                break
        sealer.seal()
    progress.close()
    return stop.signal
