"""What the fitting comparison and the ablations (experiments/compare_fitting, experiments/ablate)
share: the evaluation sets of synthetic humans, running a
fitting method over one with its time measured, and writing a table.

Seed ranges of synthetic humans (`eft_jax.datasets.synthetic.make_sample(seed)`; every one draws
its pose from the training mocap clips of `load_mocap_poses()`, the only clips the asset holds):

    train       0 ..                the bundled regressor's training samples
    validation  10,000,000 ..       tuning (recipes, ablations with --split validation)
    demo        20,000,000 ..       `eft-jax demo`
    heldout     30,000,000 ..       the comparison and the reported ablations; never tuned on

Sets are rendered once at the regressor's input size and cached under
eft_jax_output/evaluation_sets/ (git-ignored).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

import numpy as np

from eft_jax import body, nets
from eft_jax.datasets.synthetic import HELDOUT_SEED_OFFSET
from eft_jax.datasets.synthetic_tfds import VALIDATION_SEED_OFFSET
from eft_jax.eval.evaluation import evaluate_fits, summarize
from eft_jax.eval.heldout import heldout_set
from eft_jax.fitting import Exemplar
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.geometry.crops import normalize_image
from eft_jax.progress import Progress

SPLITS = {"validation": VALIDATION_SEED_OFFSET, "heldout": HELDOUT_SEED_OFFSET}
CACHE = Path("eft_jax_output/evaluation_sets")


def evaluation_set(split: str, count: int, image_size: int, style: str = "basic") -> dict:
    """Synthetic humans of seeds SPLITS[split] .. + count - 1 (images, keypoints, 3D truth) in
    `style` ("basic" or "lifelike", `eft_jax.datasets.synthetic.make_sample`)."""
    first = SPLITS[split]
    prefix = f"{style}-{split}_{first}"
    path = CACHE / f"{prefix}_{count}_{image_size}px.npz"
    for cached in sorted(CACHE.glob(f"{prefix}_*_{image_size}px.npz")):
        if int(cached.name.split("_")[2]) >= count:  # a larger set starts with the same seeds
            with np.load(cached) as data:
                return {k: data[k][:count] for k in data.files}
    keys = (
        "image",
        "keypoints",
        "joints3d_spin49",
        "vertices",
        "rotmats",
        "betas",
        "camera",
        "clip",
        "seed",
    )
    humans = heldout_set(range(first, first + count), crop_size=image_size, style=style)
    data = {k: humans[k] for k in keys}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def describe_set(split: str, count: int, style: str = "basic") -> str:
    first = SPLITS[split]
    return (
        f"{count} {split} synthetic humans, {style} style (seeds {first:,}..{first + count - 1:,})"
    )


@dataclasses.dataclass
class Run:
    """One method over one set: its fits (input order) and what they cost."""

    name: str
    rotmats: np.ndarray
    betas: np.ndarray
    cameras: np.ndarray
    iterations: np.ndarray  # forward/backward passes per exemplar (all hypotheses), 0 for none
    seconds: float  # wall time of the batched run, compilation excluded
    converged: int = 0


def run_regressor(regressor, variables, data: dict, batch_size: int = 64) -> Run:
    import jax

    apply = jax.jit(regressor.apply)
    images = normalize_image(data["image"])
    apply(variables, images[:batch_size]).rotmats.block_until_ready()  # compile
    start = time.perf_counter()
    outs = [
        jax.device_get(apply(variables, images[i : i + batch_size]))
        for i in range(0, len(images), batch_size)
    ]
    seconds = time.perf_counter() - start
    cat = lambda name: np.concatenate([getattr(o, name) for o in outs])  # noqa: E731
    return Run(
        "regressor", cat("rotmats"), cat("betas"), cat("camera"), np.zeros(len(images)), seconds
    )


def run_eft(name: str, regressor, variables, model, config, data: dict, image_size: int) -> Run:
    """EFT (or multi-start EFT, `config.hypotheses`) over the set, batched."""
    fitter = MultiStartEft(regressor, variables, model, config, crop_size=image_size)
    for engine in (fitter.engine, fitter.turned_engine):
        if engine is not None:  # compile the step (one step over empty slots) before timing
            engine.done_flags(engine.step(engine.empty_slots()))
    images = normalize_image(data["image"])
    exemplars = [Exemplar(i, images[i], data["keypoints"][i]) for i in range(len(images))]
    progress = Progress(len(exemplars), label=f"{name} fits", interval=30.0)
    start = time.perf_counter()
    results = {}
    for result in fitter.fit_stream(exemplars):
        results[result.id] = result
        progress.update()
    seconds = time.perf_counter() - start
    progress.close()
    ordered = [results[i] for i in range(len(images))]
    skipped = [r for r in ordered if r.skipped]
    if skipped:
        raise RuntimeError(
            f"{name}: {len(skipped)} exemplars skipped, e.g. {skipped[0].stop_reason}"
        )
    iterations = np.array([getattr(r, "total_iterations", None) or r.iterations for r in ordered])
    return Run(
        name,
        np.stack([r.rotmats for r in ordered]),
        np.stack([r.betas for r in ordered]),
        np.stack([r.camera for r in ordered]),
        iterations,
        seconds,
        converged=sum(r.stop_reason == "converged" for r in ordered),
    )


def score(run: Run, model, data: dict) -> tuple[dict, dict]:
    """(per-exemplar scores, the table row) of a run."""
    per = evaluate_fits(
        model,
        run.rotmats,
        run.betas,
        run.cameras,
        data["keypoints"],
        data["joints3d_spin49"],
        data["vertices"],
    )
    count = len(run.iterations)
    row = {
        "method": run.name,
        **summarize(per),
        "converged_pct": 100.0 * run.converged / count,
        "iterations": float(run.iterations.mean()),
        "ms_per_exemplar": 1000.0 * run.seconds / count,
    }
    return per, row


COLUMNS = (
    ("mean_2d_px", "2D px mean", ".2f"),
    ("median_2d_px", "2D px median", ".2f"),
    ("under_2px_pct", "% < 2 px", ".1f"),
    ("under_5px_pct", "% < 5 px", ".1f"),
    ("mpjpe_mm", "MPJPE", ".1f"),
    ("pa_mpjpe_mm", "PA-MPJPE", ".1f"),
    ("pve_mm", "PVE", ".1f"),
    ("facing_over_90_pct", "% facing > 90°", ".1f"),
    ("lr_swap_pct", "% L/R pairs swapped", ".1f"),
    ("converged_pct", "% converged", ".1f"),
    ("iterations", "iterations", ".1f"),
    ("ms_per_exemplar", "ms / exemplar", ".0f"),
)


def markdown_table(rows: list[dict], first: str = "method") -> str:
    head = [first] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for row in rows:
        cells = [str(row[first])]
        for key, _, fmt in COLUMNS:
            value = row.get(key)
            cells.append("n/a" if value is None else format(value, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(
    out: Path, name: str, header: list[str], rows: list[dict], command: str, first: str = "method"
) -> str:
    """<out>/<name>.md (title and notes in `header`, the table, the command) and
    <name>.csv; returns the markdown."""
    text = "\n".join(
        [*header, "", markdown_table(rows, first=first), "", f"Command: `{command}`", ""]
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text)
    write_csv(out / f"{name}.csv", rows)
    return text


def write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def bundled_setup():
    restored = nets.bundled_regressor()
    return restored, body.load(), nets.trained_crop_size(restored.record)
