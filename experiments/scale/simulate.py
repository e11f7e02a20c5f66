"""Results at scale, by simulation: synthetic fit results (no fitting) through the fit log, the
result shards sealed as the run goes, the merge into the run's index and both exports, with the
time and peak memory of each stage. Each stage runs in its own process, so its peak RSS is its own.

    python -m experiments.scale.simulate --count 10000 100000 [--processes 4] [--workdir /tmp/x]
        [--skip replay]

Stages (docs/results.md has the layout they write):
  log + shards   each result appended to its process's log (`FitLog.append`, as `fit` does) and
                 handed to that log's `ShardWriter`; "shards" alone is the time spent sealing
  replay         the shards rebuilt from the logs alone (what a killed run's unsealed lines, or a
                 run begun before shards, costs): parse every line, seal
  merge          `index_results` over every log's shards, then `write_run_index`
  eft-json       `export_eft_json` (parts of 100,000 exemplars)
  spin-npz       `export_spin_npz`
  lookup         1,000 records read by id from a fresh `RunIndex` (ms each)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eft_jax.fitting.result import FitResult
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import FitLog
from eft_jax.formats.result_exports import export_eft_json, export_spin_npz
from eft_jax.formats.result_shards import (
    RunIndex,
    ShardWriter,
    index_results,
    shards_dir,
    write_run_index,
)

CHUNK = 1024
PART_SIZE = 100_000
STAGES = ("log", "replay", "merge", "eft-json", "spin-npz", "lookup")
EFT_JSON = {
    "body_kind": "open",
    "body_model": "eftjax_open_body.npz",
    "dbname": "synthetic fit results (experiments/scale)",
    "meta": {"regressor": "none", "config": {"max_iters": 20}},
}


def _rotations(rng, count: int) -> np.ndarray:
    """Random rotation matrices (count, 24, 3, 3) from unit quaternions."""
    q = rng.normal(size=(count, 24, 4))
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    ).astype(np.float32)


def synthetic_results(start: int, count: int):
    """(FitResult or Skip, exemplar log fields) of exemplars start.., as the engine and a reader
    give them: 2 % skipped, 0.1 % failed (a NaN loss), float32 arrays, a float64 box."""
    rng = np.random.default_rng(start)
    rotmats = _rotations(rng, count)
    pose = rng.normal(0, 0.3, (count, 24, 3)).astype(np.float32)
    betas = rng.normal(0, 1, (count, 10)).astype(np.float32)
    camera = rng.normal([0.9, 0, 0], 0.1, (count, 3)).astype(np.float32)
    predicted = rng.uniform(-1, 1, (count, 49, 2)).astype(np.float32)
    keypoints = rng.uniform(-1, 1, (count, 49, 3)).astype(np.float32)
    keypoints[..., 2] = rng.random((count, 49)) < 0.6
    centers = rng.uniform(100, 500, (count, 2))
    scales = rng.uniform(0.5, 3, count)
    losses = rng.random((count, 2)).astype(np.float32) * 1e-3
    for n in range(count):
        exemplar_id = f"coco_{start + n:08d}"
        image = f"train2014/COCO_train2014_{(start + n) // 3:012d}.jpg"
        if (start + n) % 50 == 7:
            yield (
                Skip(exemplar_id, "no crop box: fewer than 6 limb keypoints", start + n, image),
                None,
            )
            continue
        failed = (start + n) % 1000 == 11
        yield (
            FitResult(
                id=exemplar_id,
                stop_reason="max_iters" if failed else "converged",
                iterations=int(5 + n % 15),
                rotmats=rotmats[n],
                pose_axis_angle=pose[n],
                betas=betas[n],
                camera=camera[n],
                keypoints_2d=predicted[n],
                keypoint_loss_before=float(losses[n, 0]),
                keypoint_loss_after=float("nan") if failed else float(losses[n, 1]),
                keypoint_error_px_before=float(losses[n, 0] * 1e4),
                keypoint_error_px_after=float(losses[n, 1] * 1e4),
            ),
            {
                "id": exemplar_id,
                "center": centers[n],
                "scale": float(scales[n]),
                "keypoints": keypoints[n],
                "annotId": start + n,
                "imageName": image,
            },
        )


def _paths(workdir: Path, processes: int):
    out = workdir / "fits.json"
    logs = [out.with_name(f"{out.name}.log-{i}of{processes}.jsonl") for i in range(processes)]
    return out, logs


def _stage_log(workdir: Path, count: int, processes: int) -> dict:
    out, log_paths = _paths(workdir, processes)
    logs = [FitLog(path, header={"input": "experiments/scale"}) for path in log_paths]
    writers = [ShardWriter(shards_dir(out), path) for path in log_paths]
    log_seconds = shard_seconds = 0.0
    for start in range(0, count, CHUNK):
        for n, (result, exemplar) in enumerate(synthetic_results(start, min(CHUNK, count - start))):
            share = (start + n) % processes
            before = time.process_time()
            if isinstance(result, Skip):
                record = logs[share].append_skip(result)
            else:
                record = logs[share].append(result, exemplar)
            logged = time.process_time()
            writers[share].add(record, logs[share].end)
            shard_seconds += time.process_time() - logged
            log_seconds += logged - before
    before = time.process_time()
    for writer in writers:
        writer.seal()
    shard_seconds += time.process_time() - before
    for log in logs:
        log.close()
    return {"log CPU s": log_seconds, "shards CPU s": shard_seconds}


def _stage_replay(workdir: Path, count: int, processes: int) -> dict:
    out, log_paths = _paths(workdir, processes)
    kept = workdir / "sealed_in_run"
    shards_dir(out).rename(kept)
    for path in log_paths:
        ShardWriter(shards_dir(out), path).seal()
    shutil.rmtree(shards_dir(out))  # the stages after use the shards sealed during the "run"
    kept.rename(shards_dir(out))
    return {}


def _stage_merge(workdir: Path, count: int, processes: int) -> dict:
    out, log_paths = _paths(workdir, processes)
    results = index_results(shards_dir(out), log_paths)
    order = [f"coco_{n:08d}" for n in range(count)]
    write_run_index(shards_dir(out), results, order, eft_json=EFT_JSON, image_prefix="images/")
    return {}


def _stage_eft_json(workdir: Path, count: int, processes: int) -> dict:
    out, _ = _paths(workdir, processes)
    summaries = export_eft_json(RunIndex.open(shards_dir(out)), out, part_size=PART_SIZE)
    return {"files": len(summaries), "written": sum(s["written"] for s in summaries)}


def _stage_spin_npz(workdir: Path, count: int, processes: int) -> dict:
    out, _ = _paths(workdir, processes)
    export_spin_npz(RunIndex.open(shards_dir(out)), workdir / "fits_spin.npz")
    return {}


def _stage_lookup(workdir: Path, count: int, processes: int) -> dict:
    out, _ = _paths(workdir, processes)
    run = RunIndex.open(shards_dir(out))
    ids = np.random.default_rng(0).integers(0, count, 1000)
    start = time.perf_counter()
    for n in ids:
        run.record(f"coco_{n:08d}")
    return {"ms per lookup": 1000 * (time.perf_counter() - start) / len(ids)}


STAGE_FUNCTIONS = {
    "log": _stage_log,
    "replay": _stage_replay,
    "merge": _stage_merge,
    "eft-json": _stage_eft_json,
    "spin-npz": _stage_spin_npz,
    "lookup": _stage_lookup,
}


def _disk_mb(workdir: Path, stage: str) -> float:
    out, _ = _paths(workdir, 1)
    patterns = {
        "log": ["fits.json.log-*.jsonl", "fits.json.shards/*.npz"],
        "replay": [],
        "merge": ["fits.json.shards/index.npz"],
        "eft-json": ["fits*.json"],
        "spin-npz": ["fits_spin.npz"],
        "lookup": [],
    }[stage]
    return sum(p.stat().st_size for pattern in patterns for p in workdir.glob(pattern)) / 2**20


def run_stage(stage: str, workdir: Path, count: int, processes: int) -> dict:
    """One stage in this process: wall and CPU seconds, peak RSS, extra figures (JSON line)."""
    wall, cpu = time.perf_counter(), time.process_time()
    extra = STAGE_FUNCTIONS[stage](workdir, count, processes)
    return {
        "stage": stage,
        "wall s": time.perf_counter() - wall,
        "CPU s": time.process_time() - cpu,
        "peak RSS MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "disk MB": _disk_mb(workdir, stage),
        **extra,
    }


def _row(count: int, figures: dict) -> list[str]:
    rows = []
    stage, cpu = figures["stage"], figures["CPU s"]
    if stage == "log":
        parts = [("log (append)", figures["log CPU s"]), ("shards (seal)", figures["shards CPU s"])]
        parts.append(("log + shards", cpu))
    else:
        parts = [(stage, cpu)]
    for name, seconds in parts:
        rate = (
            f"{figures['ms per lookup']:.2f} ms each"
            if stage == "lookup"
            else f"{count / seconds:,.0f}"
        )
        whole = name in (stage, "log + shards")
        rows.append(
            f"| {count:,} | {name} | {figures['wall s']:.1f} |"
            if whole
            else f"| {count:,} | {name} | |"
        )
        rows[-1] += f" {seconds:.1f} | {rate} |"
        rows[-1] += (
            f" {figures['peak RSS MB']:,.0f} | {figures['disk MB']:,.0f} |" if whole else " | |"
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--processes", type=int, default=4, help="logs the results are shared over")
    parser.add_argument("--workdir", default="/tmp/eft_jax_scale", help="removed afterwards")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("replay",), help="stages not to run (replay)"
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # a child's one stage
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    if args.stage:
        print(json.dumps(run_stage(args.stage, workdir, args.count[0], args.processes)))
        return
    load = os.getloadavg()
    lines = [
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the start; "
        f"results over {args.processes} process logs",
        "",
        "| exemplars | stage | wall s | CPU s | fits/s per core (by CPU s) | peak RSS MB | disk MB |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    payload = {"load_average": load, "runs": {}}
    for count in args.count:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        payload["runs"][count] = []
        for stage in (stage for stage in STAGES if stage not in args.skip):
            child = subprocess.run(
                [sys.executable, "-m", "experiments.scale.simulate", "--stage", stage]
                + ["--count", str(count), "--processes", str(args.processes)]
                + ["--workdir", str(workdir)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            payload["runs"][count].append(figures)
            lines.extend(_row(count, figures))
            print(lines[-1], flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    payload["load_average_end"] = os.getloadavg()
    table = "\n".join(lines) + "\n"
    from experiments.timing import write_results

    name = "scale_" + "_".join(str(count) for count in args.count)
    write_results(Path(__file__).parent, name, table, payload)


if __name__ == "__main__":
    main()
