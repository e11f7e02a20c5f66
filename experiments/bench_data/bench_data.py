"""Input and output throughput of `eft-jax fit` at scale, on one core.

    python -m experiments.bench_data.bench_data [--images 100] [--size 224] [--out experiments/bench_data]

Rows:
- reader -> crops: COCO reader + full-image JPEG decode (640 x 480) + SPIN crop + normalisation
  (`datasets.people.iter_exemplars`), what `eft-jax fit --dataset coco` does per person;
- TFDS data source -> crops: `tfds.data_source` random access to the prepared array_record +
  JPEG decode of the 224 x 224 crop + normalisation (`people_tfds.record_exemplar`); target
  >= 500 crops/s per core, so ~3 input cores feed an accelerator fitting ~1,600 exemplars/s;
- fit log append: one result line (`FitLog.append`, flushed), without and with fsync;
- merge: the EFT JSON assembled from the logs in input order (the run's index of the logged
  results, then the EFT JSON export, as `eft-jax fit` ends), per exemplar.

Everything runs in this one process (JAX is not used; numpy and Pillow are single-threaded
here), so the rates are per core. The images are smooth gradients with mild noise (JPEG-like
content; pure noise would make JPEG decoding unrepresentatively slow). Prints a markdown table,
writes bench_data.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.people_tfds import builder_for, record_exemplar
from eft_jax.datasets.registry import open_dataset
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.fit_log import FitLog
from eft_jax.formats.result_exports import export_eft_json
from eft_jax.formats.result_shards import RunIndex, index_results, shards_dir, write_run_index

STUDY = Path(__file__).resolve().parent

WIDTH, HEIGHT = 640, 480


def make_coco(root: Path, images: int, seed: int = 0) -> int:
    """COCO layout with `images` 640 x 480 JPEGs, two people each; returns the people count."""
    rng = np.random.default_rng(seed)
    folder = root / "val2017"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    annotations, entries = [], []
    for i in range(images):
        base = np.stack([xx * (0.2 + 0.1 * c) + yy * 0.3 * c for c in range(3)], -1) + rng.normal(
            0, 6, (HEIGHT, WIDTH, 3)
        )
        name = f"{i:012d}.jpg"
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(folder / name, quality=90)
        entries.append({"id": i, "file_name": name, "width": WIDTH, "height": HEIGHT})
        for k in range(2):
            x0, y0, size = 60 + 280 * k, 40, 300
            points = np.stack(
                [x0 + rng.uniform(0.2, 0.8, 17) * size, y0 + np.linspace(0.1, 0.9, 17) * size], 1
            )
            keypoints = np.concatenate([points, np.full((17, 1), 2.0)], 1).ravel().tolist()
            annotations.append(
                {
                    "id": 2 * i + k + 1,
                    "image_id": i,
                    "keypoints": keypoints,
                    "iscrowd": 0,
                    "bbox": [x0, y0, size, size],
                    "num_keypoints": 17,
                }
            )
    path = root / "annotations" / "person_keypoints_val2017.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"images": entries, "annotations": annotations}))
    return len(annotations)


def fake_result(index: int) -> dict:
    rng = np.random.default_rng(index)
    return {
        "id": f"{index + 1}",
        "rotmats": np.tile(np.eye(3, dtype=np.float32), (24, 1, 1)),
        "pose": np.zeros((24, 3), np.float32),
        "betas": rng.normal(size=10).astype(np.float32),
        "camera": np.array([0.9, 0.0, 0.1], np.float32),
        "pred_keypoints_2d": rng.uniform(-1, 1, (49, 2)),
        "iterations": 12,
        "loss_2d_before": 3e-3,
        "loss_2d_after": 9e-5,
        "stop_reason": "converged",
    }


def exemplar_meta(index: int) -> dict:
    keypoints = np.zeros((49, 3))
    keypoints[25:, :2] = np.random.default_rng(index).uniform(-0.9, 0.9, (24, 2))
    keypoints[25:, 2] = 1
    return {
        "id": f"{index + 1}",
        "center": [320.0, 240.0],
        "scale": 1.8,
        "keypoints": keypoints,
        "annotId": index + 1,
        "imageName": "x.jpg",
    }


def rate(fn, count: int) -> tuple[float, float, float]:
    """(per wall second, wall ms each, per CPU second of this process). On a shared machine the
    CPU-time rate is the per-core figure: it does not count time other jobs held the core."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return count / seconds, 1e3 * seconds / count, count / cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", default=str(STUDY))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        people = make_coco(work / "coco", args.images)
        rows = []
        source = open_dataset("coco", work / "coco", "val2017")

        def read_crops():
            assert (
                sum(
                    not isinstance(e, Skip)
                    for e in iter_exemplars(source.items, source.images_dir, crop_size=args.size)
                )
                == people
            )

        rows.append(
            ("reader -> crops (JPEG 640x480 decode + crop + normalise)", *rate(read_crops, people))
        )

        builder = builder_for(
            "coco", work / "coco", "val2017", crop_size=args.size, data_dir=work / "tfds"
        )
        prepare = rate(builder.download_and_prepare, people)
        data = builder.as_data_source("train")
        order = np.random.default_rng(0).permutation(len(data))

        def tfds_crops():
            for i in order:
                record_exemplar(data[int(i)])

        record_exemplar(data[0])  # open the files once
        rows.append(
            (
                f"TFDS data source -> crops ({args.size}px JPEG decode + normalise, random order)",
                *rate(tfds_crops, len(order)),
            )
        )
        rows.append(("TFDS prepare (reader -> JPEG crops -> array_record), per person", *prepare))

        count = 2000
        for fsync in (False, True):
            log_path = work / f"log_{fsync}.jsonl"
            results = [(fake_result(i), exemplar_meta(i)) for i in range(count)]

            def append(results=results, log_path=log_path, fsync=fsync):
                with FitLog(log_path, header={"bench": 1}, fsync=fsync) as log:
                    for result, meta in results:
                        log.append(result, meta)

            rows.append(
                (
                    f"fit log append per exemplar (fsync {'on' if fsync else 'off'})",
                    *rate(append, count),
                )
            )
        order_ids = [f"{i + 1}" for i in range(count)]

        def merge():
            directory = shards_dir(work / "fits.json")
            shutil.rmtree(directory, ignore_errors=True)
            results = index_results(directory, [work / "log_False.jsonl"])
            eft_json = {"body_kind": "open", "body_model": "b"}
            write_run_index(directory, results, order_ids, eft_json=eft_json)
            export_eft_json(RunIndex.open(directory), work / "fits.json")

        rows.append(("merge logs -> EFT JSON per exemplar (index + export)", *rate(merge, count)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    header = f"bench_data: {people} people from {args.images} images, crops {args.size}px, one core"
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} at the end (rates drop with other work on the cores)"
    )
    lines = [
        f"# {header}",
        "",
        machine,
        "",
        "| step | per wall second | wall ms each | per CPU second (one core) |",
    ]
    lines += ["|---|---:|---:|---:|"] + [
        f"| {n} | {w:,.0f} | {ms:.3f} | {c:,.0f} |" for n, w, ms, c in rows
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_data.md").write_text(text)
    (out / "bench_data.json").write_text(
        json.dumps(
            {
                "people": people,
                "images": args.images,
                "size": args.size,
                "machine": machine,
                "rows": [
                    {"step": n, "per_wall_second": w, "wall_ms": m, "per_cpu_second": c}
                    for n, w, m, c in rows
                ],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
