"""`eft-jax demo`: EFT end to end on the bundled default, with pictures and a report.

Default (a fresh install, no data): a deterministic batch of synthetic humans (seeds from
`first_seed`, a range the bundled regressor never saw in training or validation) is fitted with
EFT by the bundled body model and regressor. With `images_dir` and `keypoints_json` (`eft-jax demo
--images DIR --keypoints FILE.json`), the people of a COCO-format keypoint file are fitted instead.

In `output_dir` it writes:

- `fits.json` (EFT format) and its per-exemplar log `fits.json.log.jsonl` (`fitting.run`); every
  run fits afresh (the previous run's fits in `output_dir` are removed first), so the report's
  times, its "before" figures and the strips all come from this run. The run holds the fit log's
  lock from its start to its end, so a second demo (or a fit of `fits.json`) on the same folder
  stops before it touches anything;
- `pictures/<name>.png`: [crop | fit over the crop | side view], and `.obj` / `.glb` meshes
  (`eft_jax.eval.pictures`, as `eft-jax render`);
- `strips/<name>.png`: the paper's Figure-1 strip for the first `strips` exemplars: the input
  with its keypoints, the body after a few EFT iterations (recorded by the fit itself,
  `fitting.fit_stream(record=...)`), the final fit and its side view;
- `report.md` / `report.json`: 2D keypoint error and loss before and after EFT (the fit's own
  figures), and for synthetic humans the scores of the config's evaluator (`evaluator`, by default
  `synthetic_truth`, `eft_jax.eval.evaluators`: MPJPE, PA-MPJPE, PVE, 2D error, facing and
  left/right swaps) of the regressor's own prediction and of the EFT
  fits; and the time.
  Synthetic inputs also leave `images/` (the crops) and `exemplars.npz` (crops + keypoints).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from eft_jax import body, nets, render
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.registry import open_coco_files
from eft_jax.eval import evaluators
from eft_jax.eval.heldout import heldout_set
from eft_jax.eval.pictures import draw_fits
from eft_jax.fitting import Exemplar
from eft_jax.fitting.inputs import FitInputs
from eft_jax.fitting.recipe import describe_recipe
from eft_jax.fitting.run import RunOutcome, eft_method, log_path_for, run_fitting
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.images import save_png
from eft_jax.formats.run_lock import RunLock
from eft_jax.geometry.crops import crop_image, denormalize_image, normalize_image


def _synthetic_inputs(config, out_dir: Path, size: int):
    """Render the synthetic batch; write its crops (PNG) and exemplars.npz. Returns the fit
    inputs, the exemplars (id, normalised crop, keypoints) and the ground truth (one record of
    SPIN-49 joints and vertices per exemplar)."""
    seeds = range(config.first_seed, config.first_seed + config.num_exemplars)
    samples = heldout_set(seeds, crop_size=size)
    ids = [f"synthetic_{seed}" for seed in seeds]
    names = [f"{i}.png" for i in ids]
    for name, image in zip(names, samples["image"]):
        save_png(out_dir / "images" / name, image)
    npz = out_dir / "exemplars.npz"
    write_exemplars_npz(npz, samples["image"], samples["keypoints"], ids=ids, image_names=names)
    exemplars = [
        Exemplar(i, normalize_image(image), keypoints)
        for i, image, keypoints in zip(ids, samples["image"], samples["keypoints"])
    ]
    truth = [
        {"joints3d_spin49": joints, "vertices": vertices}
        for joints, vertices in zip(samples["joints3d_spin49"], samples["vertices"])
    ]
    return FitInputs(crops_npz=npz), out_dir / "images", exemplars, truth


def _coco_exemplars(
    images_dir: Path, keypoints_json: Path, size: int, count: int
) -> list[Exemplar]:
    source = open_coco_files(images_dir, keypoints_json)
    exemplars = []
    for item in iter_exemplars(source.items, source.images_dir, crop_size=size):
        if len(exemplars) == count:
            break
        if not isinstance(item, Skip):
            exemplars.append(item)
    return exemplars


def _crop_resampled(crop, size: int) -> np.ndarray:
    """A square crop resampled to size x size by `crop_image` (antialiased, as crops are cut), for
    pictures; crop coordinates, hence cameras, are unchanged."""
    side = crop.shape[0]
    resized = crop_image(crop, ((side - 1) / 2, (side - 1) / 2), side / 200.0, size)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def _strips(exemplars, recorded, fits, model, config, out_dir: Path) -> list[Path]:
    """Figure-1 strips from the points the fit recorded (`recorded`: id -> TrajectoryPoints) and
    the final fits (`fits`: EFT JSON entries)."""
    if not exemplars:
        return []
    pose = jax.jit(body.forward)
    faces = np.asarray(model.faces)

    def vertices(rotmats, betas):
        return np.asarray(
            pose(model, jnp.asarray(rotmats, jnp.float32), jnp.asarray(betas, jnp.float32)).vertices
        )

    by_id = {f["exemplar_id"]: f for f in fits}
    paths = []
    for exemplar in exemplars:
        fit = by_id.get(str(exemplar.id))
        if fit is None:  # skipped
            continue
        panels = [
            (
                f"iter {p.updates}",
                vertices(p.prediction.rotmats, p.prediction.betas),
                p.prediction.camera,
            )
            for p in recorded[exemplar.id]
        ]
        final_vertices = vertices(fit["parm_pose"], fit["parm_shape"])
        panels.append(
            (
                f"final ({fit['iterations']} it)",
                final_vertices,
                np.asarray(fit["parm_cam"], np.float32),
            )
        )
        strip = render.figure_strip(
            _crop_resampled(denormalize_image(exemplar.image), config.picture_size),
            exemplar.keypoints,
            faces,
            panels,
            side_vertices=final_vertices,
        )
        paths.append(save_png(out_dir / "strips" / f"{exemplar.id}.png", strip))
    return paths


def _evaluation(evaluator, regressor, variables, exemplars, fits: list[dict], truth) -> dict:
    """The evaluator's summaries of the regressor's own prediction ("before", where EFT starts)
    and of the EFT fits ("after"), over the fitted exemplars."""
    by_id = {f["exemplar_id"]: f for f in fits}
    fitted = [i for i, e in enumerate(exemplars) if str(e.id) in by_id]
    keypoints = np.stack([exemplars[i].keypoints for i in fitted])
    records = [truth[i] for i in fitted]
    start = jax.jit(regressor.apply)(
        variables, jnp.asarray(np.stack([exemplars[i].image for i in fitted]))
    )
    ends = [by_id[str(exemplars[i].id)] for i in fitted]
    before = evaluator.scores(start.rotmats, start.betas, start.camera, keypoints, records)
    after = evaluator.scores(
        np.stack([f["parm_pose"] for f in ends]),
        np.stack([f["parm_shape"] for f in ends]),
        np.stack([f["parm_cam"] for f in ends]),
        keypoints,
        records,
    )
    return {"before": evaluator.summary(before), "after": evaluator.summary(after)}


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


EVALUATION_ROWS = (
    ("mean_2d_px", "2D keypoint error, visible LSP-14 keypoints (px of a 224 px crop, mean)"),
    ("mpjpe_mm", "MPJPE, LSP-14 (mm)"),
    ("pa_mpjpe_mm", "PA-MPJPE, LSP-14 (mm)"),
    ("pve_mm", "PVE (mm)"),
    ("facing_over_90_pct", "facing the wrong way (% over 90°)"),
    ("lr_swap_pct", "left/right limb pairs swapped (%)"),
)


def _report_markdown(report: dict) -> str:
    rows = [
        (
            "2D keypoint error, keypoints of EFT's loss (px of a 224 px crop, mean)",
            report["keypoint_error_px"],
        ),
        ("2D keypoint loss (EFT's, mean)", report["keypoint_loss"]),
    ]
    if "evaluation" in report:
        before, after = report["evaluation"]["before"], report["evaluation"]["after"]
        rows += [(name, (before[key], after[key])) for key, name in EVALUATION_ROWS]
    lines = [
        "# eft-jax demo",
        "",
        f"{report['fitted']} of {report['exemplars']} exemplars fitted ({report['inputs']}), "
        f"{report['crop_size']} px crops; regressor: {report['regressor']}; body model: {report['body_model']}.",
        f"EFT with {report['recipe']}: at most {report['max_iters']} iterations, "
        f"{report['converged']} of {report['fitted']} converged under the threshold, "
        f"{report['mean_iterations']:.1f} iterations on average.",
        "",
        "| | before EFT | after EFT |",
        "|---|---:|---:|",
        *[f"| {name} | {before:.4g} | {after:.4g} |" for name, (before, after) in rows],
        "",
        f"Time: {report['seconds']['total']:.1f} s in all (fitting {report['seconds']['fit']:.1f} s, "
        f"pictures {report['seconds']['pictures']:.1f} s, strips {report['seconds']['strips']:.1f} s).",
        "",
    ]
    return "\n".join(lines)


def run_demo(
    config: ml_collections.ConfigDict,
    images_dir: Path | None = None,
    keypoints_json: Path | None = None,
) -> RunOutcome:
    """The demo in `config.output_dir` (module docstring); returns its fitting run's outcome."""
    out_dir = Path(config.output_dir)
    fits_json = out_dir / "fits.json"
    with RunLock(log_path_for(fits_json)) as lock:
        return _demo(config, images_dir, keypoints_json, out_dir, fits_json, lock)


def _demo(config, images_dir, keypoints_json, out_dir: Path, fits_json: Path, lock) -> RunOutcome:
    start = time.perf_counter()
    model = body.load(config.body_model)
    loaded = nets.load_regressor(config.checkpoint, model)
    regressor, variables, size = loaded.regressor, loaded.variables, loaded.input_size

    if images_dir is None:
        inputs, pictures_from, exemplars, truth = _synthetic_inputs(config, out_dir, size)
        description = f"synthetic humans, seeds {config.first_seed}..{config.first_seed + config.num_exemplars - 1}"
    else:
        inputs, pictures_from, truth = FitInputs(images_dir, keypoints_json), images_dir, None
        exemplars = _coco_exemplars(images_dir, keypoints_json, size, config.strips)
        description = f"{keypoints_json} (images in {images_dir})"

    strip_exemplars = exemplars[: config.strips]
    recorded: dict = {}  # exemplar id -> the TrajectoryPoints the fit recorded for its strip
    tick = time.perf_counter()
    outcome = run_fitting(
        inputs,
        fits_json,
        config.eft,
        checkpoint=config.checkpoint,
        body_model_path=config.body_model,
        crop_size=size,
        method=eft_method(
            config.eft,
            record={e.id: tuple(config.strip_iterations) for e in strip_exemplars},
            on_point=lambda exemplar_id, point: recorded.setdefault(exemplar_id, []).append(point),
        ),
        process_index=0,
        process_count=1,
        fresh=True,
        held_lock=lock,
    )
    if outcome.interrupted is not None:
        return outcome
    fit_seconds = time.perf_counter() - tick
    document = read_eft_json(fits_json)
    fits = document["data"]

    tick = time.perf_counter()
    drawn = draw_fits(
        fits_json,
        pictures_from,
        out_dir / "pictures",
        body_model_path=config.body_model,
        crop_size=config.picture_size,
    )
    picture_seconds = time.perf_counter() - tick

    tick = time.perf_counter()
    strips = _strips(strip_exemplars, recorded, fits, model, config, out_dir)
    strip_seconds = time.perf_counter() - tick
    report = {
        "inputs": description,
        "exemplars": len(fits) + len(document["skipped"]),
        "fitted": len(fits),
        "crop_size": size,
        "regressor": loaded.source,
        "body_model": model.source,
        "recipe": describe_recipe(config.eft, loaded.record),
        "max_iters": int(config.eft.max_iters),
        "converged": sum(f["stop_reason"] == "converged" for f in fits),
        "mean_iterations": _mean(f["iterations"] for f in fits),
        "keypoint_error_px": [
            _mean(f[f"keypoint_error_px_{when}"] for f in fits) for when in ("before", "after")
        ],
        "keypoint_loss": [
            _mean(f[f"loss_2d_{when}"] for f in fits) for when in ("before", "after")
        ],
    }
    # The synthetic ground truth is joints of the bundled open body: 3D errors of another body
    # model's fits would mix two skeletons, so they are reported only for the open model.
    if truth is not None and fits and model.kind == "open":
        evaluator = evaluators.from_config(config.evaluator, model=model, dataset="synthetic")
        report["evaluation"] = _evaluation(evaluator, regressor, variables, exemplars, fits, truth)
    report["seconds"] = {
        "total": time.perf_counter() - start,
        "fit": fit_seconds,
        "pictures": picture_seconds,
        "strips": strip_seconds,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    markdown = _report_markdown(report)
    (out_dir / "report.md").write_text(markdown)

    print(markdown)
    print(f"  fits (EFT JSON):   {fits_json}")
    print(
        f"  pictures + meshes: {out_dir / 'pictures'}/ ({len(drawn)} PNGs, {len(drawn.meshes)} .obj + .glb)"
    )
    print(f"  Figure-1 strips:   {out_dir / 'strips'}/ ({len(strips)})")
    print(f"  report:            {out_dir / 'report.md'}, {out_dir / 'report.json'}")
    outcome.job = "demo"
    outcome.seconds = report["seconds"]["total"]
    return outcome
