"""How long `eft-jax report` takes on a large run, and how big its folder is; and a rerun on the
grown run (thumbnails cached: only the new fits are drawn).

    python -m experiments.report.scale --fits 10000 --grow 100

The fits are made up, not fitted (fitting 10,000 exemplars takes hours here, and the report's
cost does not depend on how good a fit is): mocap poses (the clips reserved for evaluation are
never read) with random shapes and cameras, random 2D errors, iterations and stop reasons, and
a crop per fit (smooth random colours) in an exemplar .npz, as `--crops` reads them. The report
is written to a temporary folder; the table goes to experiments/report/scale.md / .json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from eft_jax import body
from eft_jax.body.upright import turn_upright
from eft_jax.datasets.mocap_poses import load_mocap_poses
from eft_jax.formats.eft_json import write_eft_json
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.report import CropSource, read_run, write_report
from experiments.timing import machine_description, write_results

HERE = Path(__file__).parent
CROP = 96  # crop side stored in the .npz


def made_up_fits(count: int, seed: int = 0):
    """`count` fit records and their crops (uint8, CROP px)."""
    rng = np.random.default_rng(seed)
    poses, _ = load_mocap_poses()
    rotmats = np.array(body.pose_to_rotmats(poses[rng.integers(0, len(poses), count)]))
    rotmats[:, 0] = turn_upright(rotmats[:, 0])
    fits = []
    for i in range(count):
        error = float(rng.gamma(2.0, 3.0))
        fits.append(
            {
                "id": f"made_up_{i:06d}",
                "rotmats": rotmats[i],
                "betas": rng.normal(0, 0.7, 10),
                "camera": [rng.uniform(0.8, 1.0), rng.normal(0, 0.05), rng.normal(0, 0.05)],
                "center": [(CROP - 1) / 2, (CROP - 1) / 2],
                "scale": CROP / 200,
                "keypoints": np.zeros((49, 3)),
                "imageName": f"made_up_{i:06d}.png",
                "iterations": int(rng.integers(1, 21)),
                "stop_reason": "converged" if error < 6 else "max_iters",
                "loss_2d_before": error * 2e-5,
                "loss_2d_after": error * 1e-5,
                "keypoint_error_px_before": 2 * error,
                "keypoint_error_px_after": error,
            }
        )
    # Smooth crops: a 6 x 6 random grid of colours, upsampled.
    coarse = rng.integers(0, 256, (count, 6, 6, 3)).astype(np.float32)
    crops = np.repeat(np.repeat(coarse, CROP // 6, axis=1), CROP // 6, axis=2).astype(np.uint8)
    return fits, crops


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed_report(fits_json: Path, crops_npz: Path, out: Path, model) -> tuple[float, float, int]:
    """Wall-clock seconds, this process's CPU seconds (all threads) and thumbnails drawn."""
    start, cpu = time.perf_counter(), time.process_time()
    result = write_report(
        [read_run(fits_json)], out, model=model, crops=CropSource.from_crops_npz(crops_npz)
    )
    return time.perf_counter() - start, time.process_time() - cpu, result.drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument("--grow", type=int, default=100, help="fits added before the rerun")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    model = body.load()
    work = Path(tempfile.mkdtemp(prefix="eft_jax_report_scale_"))
    try:
        total = args.fits + args.grow
        fits, crops = made_up_fits(total)
        crops_npz = write_exemplars_npz(
            work / "crops.npz",
            crops,
            np.zeros((total, 49, 3), np.float32),
            ids=[f["id"] for f in fits],
            compress=False,
        )
        first = work / "first.json"
        write_eft_json(first, fits[: args.fits], body_kind="open", body_model="open")
        grown = work / "grown.json"
        write_eft_json(grown, fits, body_kind="open", body_model="open")
        out = work / "report"
        seconds_first, cpu_first, drawn_first = timed_report(first, crops_npz, out, model)
        size_first = folder_bytes(out)
        seconds_grown, cpu_grown, drawn_grown = timed_report(grown, crops_npz, out, model)
        size_grown = folder_bytes(out)
        du = subprocess.run(["du", "-sb", str(out)], capture_output=True, text=True).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("first report", args.fits, drawn_first, seconds_first, cpu_first, size_first),
        (f"rerun, {args.grow} added", total, drawn_grown, seconds_grown, cpu_grown, size_grown),
    ]
    table = "\n".join(
        [
            f"`python -m experiments.report.scale --fits {args.fits} --grow {args.grow}`",
            "",
            machine_description(),
            "",
            f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)",
            "",
            "| run | fits | thumbnails drawn | wall s | CPU s (process) | folder (MB) |",
            "|---|---:|---:|---:|---:|---:|",
            *[
                f"| {name} | {n} | {drawn} | {sec:.1f} | {cpu:.1f} | {size / 1e6:.1f} |"
                for name, n, drawn, sec, cpu, size in rows
            ],
            "",
        ]
    )
    payload = {
        "rows": [
            dict(zip(("run", "fits", "drawn", "seconds", "cpu_seconds", "bytes"), row))
            for row in rows
        ],
        "du": du.strip(),
    }
    write_results(args.out, "scale", table, payload)


if __name__ == "__main__":
    main()
