"""Crop camera against full-frame camera, for EFT and SMPLify, on held-out full-frame humans.

    python -m experiments.full_frame.humans --count 500                  # render the set once
    python -m experiments.full_frame.full_frame run --count 100 --methods eft_crop smplify_crop
    python -m experiments.full_frame.full_frame run --count 100 --noise detector
    python -m experiments.full_frame.full_frame table --count 100        # the table of every run

Humans: `make_sample(style="full_frame")` of seeds HELDOUT_SEED_OFFSET.. (disjoint from training
and validation; never tuned on), 128 px crops for the bundled regressor and open body model. Each
run fits every human once with one method and stores its fits under
eft_jax_output/full_frame_runs/ (git-ignored; a larger run fits only the humans after the
largest stored one); `table` scores whichever runs exist against the
truth in the camera frame and writes experiments/full_frame/full_frame_<count>.md / .csv and the
per-human scores (_per_human.npz), with each bin's crop-minus-full-frame difference in mean
PA-MPJPE and median lean error and its 95 % interval from resampling the humans.

Methods: EFT (the bundled regressor's tuned recipe) and SMPLify (SPIN's, started from the
regressor), each with `camera=crop` (today's: EFT's weak-perspective camera inside the crop,
SMPLify's 5000 px at 224; the fit is put into the frame through its box, CLIFF's way, with the
true focal length, to score its translation) and with `camera=full_frame` (the pinhole camera of
the whole frame), given the true intrinsics ("known") or nothing but the frame's size (the focal
length guessed as the frame's diagonal and the principal point as its centre, CLIFF's default).

Keypoints: "clean" (the sample's: exact, self-occluded ones invisible) or "detector" (each visible
keypoint moved by Gaussian noise of `JITTER_PX` px at a 224 px crop, that is relative to the
person's box, and dropped with probability `DROP_PROBABILITY`; the box stays the clean one).

Bins, fixed before any result was seen (d: the image diagonal; p: the principal point):
off-centre = box centre at least d / 4 from p; wide = focal length at most 0.7 d; close = pelvis
under 3 m from the camera (along the optical axis); oblique = all three at once; centred far =
box centre within d / 10 of p, pelvis over 5 m and a focal length over 0.7 d.

Scores: MPJPE, PA-MPJPE (LSP-14, hip-centred) and PVE (hip-centred) in mm; 2D: the fit's
keypoints as its own camera projects them, against the input's visible LSP-14 keypoints, px of a
224 px crop; translation: distance between the fit's pelvis and the true pelvis in the camera
frame (cm, median); lean / knee: median absolute errors of the torso's lean in depth and of the
knee bend (`eval.metrics.posture_deg`, degrees) against the truth in the camera frame; hip excess:
mean (fit - truth) hip flexion in degrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eft_jax import body
from eft_jax.config import default_config_path, load_config
from eft_jax.eval.metrics import (
    LSP14_IN_SPIN49,
    mpjpe_mm,
    pa_mpjpe_mm,
    posture_errors,
    pve_mm,
)
from eft_jax.fitting import Exemplar
from eft_jax.fitting.multistart import MultiStartEft
from eft_jax.fitting.recipe import describe_recipe, resolve_config
from eft_jax.fitting.smplify import Smplify, smplify_stream
from eft_jax.geometry import weak_perspective
from eft_jax.geometry.cameras import (
    FullFrame,
    crop_to_full_translation,
    image_to_crop,
    pinhole,
)
from eft_jax.geometry.crops import normalize_image
from eft_jax.progress import Progress
from experiments.fitting_runs import bundled_setup, write_csv
from experiments.full_frame.humans import full_frame_set

STUDY = Path(__file__).resolve().parent
RUNS = Path("eft_jax_output/full_frame_runs")
NOISES = ("clean", "detector")
JITTER_PX = 3.0  # std of the detector-like jitter, px at a 224 px crop
DROP_PROBABILITY = 0.1
WIDE = 0.7  # focal length / diagonal
CLOSE_M, FAR_M = 3.0, 5.0
OFF_CENTRE, CENTRED = 0.25, 0.1  # box centre's distance to the principal point / diagonal

# method: (fitter, camera, focal length the fit is given)
METHODS = {
    "eft_crop": ("eft", "crop", "known"),
    "eft_full_known": ("eft", "full_frame", "known"),
    "eft_full_diagonal": ("eft", "full_frame", "diagonal"),
    "smplify_crop": ("smplify", "crop", "known"),
    "smplify_full_known": ("smplify", "full_frame", "known"),
    "smplify_full_diagonal": ("smplify", "full_frame", "diagonal"),
}
TITLES = {
    "eft_crop": "EFT, crop camera",
    "eft_full_known": "EFT, full frame, known focal",
    "eft_full_diagonal": "EFT, full frame, focal = diagonal",
    "smplify_crop": "SMPLify, crop camera",
    "smplify_full_known": "SMPLify, full frame, known focal",
    "smplify_full_diagonal": "SMPLify, full frame, focal = diagonal",
}


def bins(humans: dict, model) -> dict:
    """name -> (N,) bool: the humans in each bin (module docstring)."""
    width, height = humans["image_size"][:, 0], humans["image_size"][:, 1]
    diagonal = np.hypot(width, height)
    offset = np.linalg.norm(humans["box_center"] - humans["principal_px"], axis=-1) / diagonal
    wide = humans["focal_px"] / diagonal <= WIDE
    depth = true_pelvis(humans, model)[:, 2]
    off_centre, close = offset >= OFF_CENTRE, depth < CLOSE_M
    return {
        "all": np.ones(len(depth), bool),
        "off-centre": off_centre,
        "wide": wide,
        "close": close,
        "oblique (off-centre, wide and close)": off_centre & wide & close,
        "centred far": (offset <= CENTRED) & (depth > FAR_M) & ~wide,
    }


def true_pelvis(humans: dict, model) -> np.ndarray:
    """(N, 3) the true pelvis joints in the camera frame."""
    joints = body.forward_joints(model, humans["rotmats"], humans["betas"]).joints
    return np.asarray(joints[:, 0]) + humans["translation"]


def detector_keypoints(humans: dict) -> np.ndarray:
    """The clean keypoints with detector-like noise (module docstring), seeded by each human."""
    noisy = humans["keypoints"].copy()
    for index, seed in enumerate(humans["seed"]):
        rng = np.random.default_rng([int(seed), 1])
        noisy[index, :, :2] += rng.normal(0.0, JITTER_PX / 112.0, (noisy.shape[1], 2))
        noisy[index, :, 2] *= rng.random(noisy.shape[1]) >= DROP_PROBABILITY
    return noisy


def frames(humans: dict, focal) -> FullFrame:
    """The humans' boxes in their frames, seen through focal lengths `focal` (N,) and the true
    principal points."""
    return FullFrame(
        box_center=jnp.asarray(humans["box_center"], jnp.float32),
        box_size=jnp.asarray(200.0 * humans["box_scale"], jnp.float32),
        focal=jnp.asarray(np.stack([focal, focal], axis=-1), jnp.float32),
        principal_point=jnp.asarray(humans["principal_px"], jnp.float32),
    )


def fitted_translation(method: str, fits: dict, humans: dict) -> np.ndarray:
    """(N, 3) each fit's translation in the camera frame: full-frame fits' own; crop fits put
    into the frame through their boxes with the true focal length (CLIFF's conversion,
    `geometry.cameras.crop_to_full_translation`)."""
    if METHODS[method][1] == "full_frame":
        return fits["translation"]
    frame = frames(humans, humans["focal_px"])
    return np.asarray(crop_to_full_translation(jnp.asarray(fits["camera"]), frame))


def fitted_keypoints(method: str, fits: dict, humans: dict, spin49) -> np.ndarray:
    """(N, 49, 2) the fits' keypoints in crop coordinates, as each fit's own camera projects
    them (crop fits: weak perspective; full-frame fits: the pinhole camera they used)."""
    if METHODS[method][1] == "crop":
        return np.asarray(weak_perspective(jnp.asarray(spin49), jnp.asarray(fits["camera"])))
    frame = frames(humans, fits["focal_length"][:, 0])
    pixels = pinhole(
        jnp.asarray(spin49), jnp.asarray(fits["translation"]), frame.focal, frame.principal_point
    )
    return np.asarray(image_to_crop(pixels, frame))


def exemplars(humans: dict, keypoints: np.ndarray, camera: str, focal: str) -> list[Exemplar]:
    """The humans as a reader gives them: crop, keypoints, box; for the full-frame camera the
    frame's size and, with focal "known", the true intrinsics (else the fit guesses the
    diagonal and the frame's centre)."""
    images = normalize_image(humans["image"])
    items = []
    for index in range(len(images)):
        known = camera == "full_frame" and focal == "known"
        items.append(
            Exemplar(
                index,
                images[index],
                keypoints[index],
                center=humans["box_center"][index],
                scale=float(humans["box_scale"][index]),
                image_size=tuple(int(v) for v in humans["image_size"][index]),
                focal_length=np.full(2, humans["focal_px"][index]) if known else None,
                principal_point=humans["principal_px"][index] if known else None,
            )
        )
    return items


def fit(method: str, restored, model, size: int, items: list[Exemplar]) -> dict:
    """Fits of every exemplar with `method`: rotmats, betas, crop cameras, seconds."""
    fitter, camera, _ = METHODS[method]
    if fitter == "eft":
        config = resolve_config(
            default_config_path("eft_default"), [f"camera={camera}"], restored.record
        )
        stream = MultiStartEft(
            restored.regressor, restored.variables, model, config, crop_size=size
        ).fit_stream
    else:
        config = load_config(default_config_path("smplify"), [f"camera={camera}"])
        apply = jax.jit(lambda images: restored.regressor.apply(restored.variables, images))

        def predict(images):
            out = apply(images)
            return out.rotmats, out.betas, out.camera

        smplify = Smplify(model, config)

        def stream(items):
            return smplify_stream(items, smplify, predict=predict, crop_size=size)

    progress = Progress(len(items), label=f"{method} fits", interval=60.0)
    start = time.perf_counter()
    results = {}
    for result in stream(items):
        results[result.id] = result
        progress.update()
    progress.close()
    ordered = [results[i] for i in range(len(items))]
    skipped = [r for r in ordered if r.skipped]
    if skipped:
        raise RuntimeError(f"{method}: {len(skipped)} skipped, e.g. {skipped[0].stop_reason}")
    fits = {
        "rotmats": np.stack([r.rotmats for r in ordered]),
        "betas": np.stack([r.betas for r in ordered]),
        "camera": np.stack([r.camera for r in ordered]),
        "iterations": np.array([r.iterations for r in ordered]),
        "seconds": time.perf_counter() - start,
    }
    if camera == "full_frame":
        for key in ("translation", "focal_length", "principal_point"):
            fits[key] = np.stack([getattr(r, key) for r in ordered])
    return fits


def run_path(count: int, noise: str, method: str) -> Path:
    return RUNS / f"{noise}_{method}_{count}.npz"


def load_run(count: int, noise: str, method: str) -> dict | None:
    """The fits of the first `count` humans from the smallest stored run over at least that
    many (a run over more humans starts with the same ones), or None."""
    runs = sorted(RUNS.glob(f"{noise}_{method}_*.npz"), key=lambda p: int(p.stem.split("_")[-1]))
    for path in runs:
        if int(path.stem.split("_")[-1]) >= count:
            with np.load(path) as data:
                return {k: data[k] if data[k].ndim == 0 else data[k][:count] for k in data.files}
    return None


def largest_run(count: int | None, noise: str, method: str) -> int:
    """The size of the largest stored run of `method` over fewer than `count` humans (any
    number: None; 0 if none): a larger run fits only the humans after it."""
    sizes = [int(p.stem.split("_")[-1]) for p in RUNS.glob(f"{noise}_{method}_*.npz")]
    return max((n for n in sizes if count is None or n < count), default=0)


def extend(first: dict, rest: dict) -> dict:
    """The fits of a smaller run followed by those of the humans after it."""
    return {
        key: first[key] + rest[key] if key == "seconds" else np.concatenate([first[key], rest[key]])
        for key in first
    }


def keypoint_error_px(
    method: str, fits: dict, humans: dict, keypoints: np.ndarray, spin49
) -> np.ndarray:
    """(N,) each fit's mean distance to the input's visible LSP-14 keypoints through its own
    camera, px at 224."""
    projected = fitted_keypoints(method, fits, humans, spin49)
    lsp = np.asarray(LSP14_IN_SPIN49)
    visible = keypoints[:, lsp, 2] > 0
    distance = np.linalg.norm(projected[:, lsp] - keypoints[:, lsp, :2], axis=-1) * 112.0
    return (distance * visible).sum(axis=1) / np.maximum(visible.sum(axis=1), 1)


def score(method: str, fits: dict, humans: dict, keypoints: np.ndarray, model) -> dict:
    """Per-human scores of one run (module docstring)."""
    out = body.forward(model, fits["rotmats"], fits["betas"])
    spin49, vertices = np.asarray(out.spin49), np.asarray(out.vertices)
    true_spin49 = humans["joints3d_spin49"]
    translation = fitted_translation(method, fits, humans)
    error_2d = keypoint_error_px(method, fits, humans, keypoints, spin49)
    pelvis = np.asarray(out.joints[:, 0]) + translation
    posture = posture_errors(spin49, true_spin49)
    return {
        "error_2d_px": error_2d,
        "mpjpe_mm": np.asarray(mpjpe_mm(spin49, true_spin49)),
        "pa_mpjpe_mm": np.asarray(pa_mpjpe_mm(spin49, true_spin49)),
        "pve_mm": np.asarray(pve_mm(vertices, humans["vertices"], spin49, true_spin49)),
        "translation_cm": 100.0 * np.linalg.norm(pelvis - true_pelvis(humans, model), axis=-1),
        "lean_depth_error_deg": np.asarray(posture["lean_depth_error"]),
        "knee_error_deg": np.asarray(posture["knee_error"]),
        "hip_excess_deg": np.asarray(posture["hip_excess"]),
    }


COLUMNS = (
    ("humans", "n", "d"),
    ("error_2d_px", "2D px", ".2f"),
    ("mpjpe_mm", "MPJPE", ".1f"),
    ("pa_mpjpe_mm", "PA-MPJPE", ".1f"),
    ("pve_mm", "PVE", ".1f"),
    ("translation_cm", "transl. cm (median)", ".1f"),
    ("lean_depth_error_deg", "lean err ° (median)", ".1f"),
    ("knee_error_deg", "knee err ° (median)", ".1f"),
    ("hip_excess_deg", "hip excess °", ".1f"),
)
MEDIANS = ("translation_cm", "lean_depth_error_deg", "knee_error_deg")


def summary_row(per: dict, members: np.ndarray) -> dict:
    row = {"humans": int(members.sum())}
    for key, _, _ in COLUMNS[1:]:
        values = per[key][members]
        row[key] = float(np.median(values) if key in MEDIANS else values.mean())
    return row


# (crop run, full-frame run) whose per-human differences get bootstrap intervals
PAIRS = (
    ("eft_crop", "eft_full_known"),
    ("eft_crop", "eft_full_diagonal"),
    ("smplify_crop", "smplify_full_known"),
    ("smplify_crop", "smplify_full_diagonal"),
)
BOOTSTRAP = 2000


def paired_difference(crop: dict, full: dict, members: np.ndarray, key: str) -> tuple:
    """Crop minus full frame over the bin's humans, for the mean (PA-MPJPE) or the median (lean
    error) of `key`, with a 95 % interval from resampling the humans (paired, fixed seed)."""
    statistic = np.median if key in MEDIANS else np.mean
    a, b = crop[key][members], full[key][members]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(a), (BOOTSTRAP, len(a)))
    resampled = statistic(a[draws], axis=1) - statistic(b[draws], axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return float(statistic(a) - statistic(b)), float(low), float(high)


def difference_lines(scores: dict, groups: dict) -> list[str]:
    """Markdown rows: crop minus full frame in PA-MPJPE (mm, mean; also as % of crop's) and
    median lean error (degrees), with 95 % bootstrap intervals, per bin and pair of runs."""
    lines = [
        "| bin | crop − full frame | n | PA-MPJPE mm [95 %] | PA-MPJPE % | lean ° [95 %] |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, members in groups.items():
        if members.sum() < 2:
            continue
        for crop, full in PAIRS:
            if crop not in scores or full not in scores:
                continue
            cells = []
            for key in ("pa_mpjpe_mm", "lean_depth_error_deg"):
                value, low, high = paired_difference(scores[crop], scores[full], members, key)
                cells.append(f"{value:+.1f} [{low:+.1f}, {high:+.1f}]")
            share = 100.0 * float(
                np.mean(scores[crop]["pa_mpjpe_mm"][members] - scores[full]["pa_mpjpe_mm"][members])
                / np.mean(scores[crop]["pa_mpjpe_mm"][members])
            )
            cells.insert(1, f"{share:+.1f}")
            title = f"{TITLES[crop]} − {TITLES[full].split(', ', 1)[1]}"
            lines.append(f"| {name} | {title} | {int(members.sum())} | " + " | ".join(cells) + " |")
    return lines


def table(count: int, model) -> str:
    humans = full_frame_set(count, 128)
    groups = bins(humans, model)
    keypoints = {"clean": humans["keypoints"], "detector": detector_keypoints(humans)}
    rows, per_human, lines = [], {"seeds": humans["seed"]}, []
    for noise in NOISES:
        fits = {m: load_run(count, noise, m) for m in METHODS}
        runs = [m for m in METHODS if fits[m] is not None]
        if not runs:
            continue
        scores = {}
        for method in runs:
            scores[method] = score(method, fits[method], humans, keypoints[noise], model)
            per_human.update({f"{noise}/{method}/{k}": v for k, v in scores[method].items()})
        lines += [f"### {noise} keypoints", ""]
        lines += ["| bin | method | " + " | ".join(t for _, t, _ in COLUMNS) + " |"]
        lines += ["|---|---|" + "---:|" * len(COLUMNS)]
        for name, members in groups.items():
            for method in runs:
                row = {"noise": noise, "bin": name, "method": method}
                row.update(summary_row(scores[method], members))
                rows.append(row)
                cells = [format(row[k], f) if members.any() else "n/a" for k, _, f in COLUMNS]
                lines.append(f"| {name} | {TITLES[method]} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Differences, {noise} keypoints (positive: the full-frame camera better):",
            "",
        ]
        lines += difference_lines(scores, groups) + [""]
    name = f"full_frame_{count}"
    write_csv(STUDY / f"{name}.csv", rows)
    np.savez_compressed(STUDY / f"{name}_per_human.npz", **per_human)
    text = "\n".join(lines)
    (STUDY / f"{name}.md").write_text(
        f"# Crop against full-frame camera, {count} held-out full-frame humans\n\n{text}\n"
        f"Command: `python -m experiments.full_frame.full_frame table --count {count}`\n"
    )
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("--count", type=int, default=100, help="held-out full-frame humans")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--noise", choices=NOISES, default="clean")
    args = parser.parse_args(argv)
    restored, model, size = bundled_setup()
    if args.action == "table":
        print(table(args.count, model))
        return 0
    humans = full_frame_set(args.count, size)
    keypoints = humans["keypoints"] if args.noise == "clean" else detector_keypoints(humans)
    print(
        "EFT recipe: "
        + describe_recipe(
            resolve_config(default_config_path("eft_default"), [], restored.record),
            restored.record,
        ),
        file=sys.stderr,
    )
    for method in args.methods:
        path = run_path(args.count, args.noise, method)
        if path.exists():
            continue
        _, camera, focal = METHODS[method]
        done = largest_run(args.count, args.noise, method)
        rest = {key: value[done:] for key, value in humans.items()}
        fits = fit(method, restored, model, size, exemplars(rest, keypoints[done:], camera, focal))
        if done:
            fits = extend(load_run(done, args.noise, method), fits)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **fits)
        print(f"{method} ({args.noise}): {fits['seconds']:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
