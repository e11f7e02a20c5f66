"""`eft-jax demo`: EFT end to end on the bundled default, with pictures and a report.

Default (a fresh install, no data): a deterministic batch of synthetic humans (seeds from
`first_seed`, a range the bundled regressor never saw in training or validation) is fitted with
EFT by the bundled body model and regressor. With `images_dir` and `keypoints_json` (`eft-jax demo
--images DIR --keypoints FILE.json`), the people of a COCO-format keypoint file are fitted instead.

In `output_dir` it writes:

- `fits.json` (EFT format) and its per-exemplar log `fits.json.log.jsonl` (`eft-jax fit`); every
  run fits afresh (the previous run's fits in `output_dir` are removed first), so the report's
  times, its "before" figures and the strips all come from this run;
- `pictures/<name>.png`: [crop | fit over the crop | side view], and `.obj` / `.glb` meshes
  (`eft-jax render`);
- `strips/<name>.png`: the paper's Figure-1 strip for the first `strips` exemplars: the input
  with its keypoints, the body after a few EFT iterations (recorded by the fit itself,
  `fitting.fit_stream(record=...)`), the final fit and its side view;
- `report.md` / `report.json`: 2D keypoint error and loss before and after EFT (the fit's own
  figures), and for synthetic humans the evaluator's scores (`train.evaluation`: MPJPE, PA-MPJPE,
  PVE, 2D error, facing and left/right swaps) of the regressor's own prediction and of the EFT
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
from eft_jax.datasets.synthetic import make_samples
from eft_jax.fitting import Exemplar
from eft_jax.fitting.recipe import describe_recipe
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.exemplar_npz import write_exemplars_npz
from eft_jax.formats.images import save_png
from eft_jax.geometry.crops import crop_image, denormalize_image, normalize_image
from eft_jax.jobs.fit import FitInputs, all_log_paths, eft_method, load_regressor, run_fit
from eft_jax.jobs.render import run_render
from eft_jax.train.evaluation import evaluate_fits, summarize


def _synthetic_inputs(config, out_dir: Path, size: int):
    """Render the synthetic batch; write its crops (PNG) and exemplars.npz. Returns the fit
    inputs, the exemplars (id, normalised crop, keypoints) and the ground truth (SPIN-49 joints
    and vertices)."""
    seeds = range(config.first_seed, config.first_seed + config.num_exemplars)
    samples = make_samples(seeds, crop_size=size, with_vertices=True)
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
    truth = {"joints": samples["joints3d_spin49"], "vertices": samples["vertices"]}
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


def _evaluation(model, regressor, variables, exemplars, fits: list[dict], truth: dict) -> dict:
    """The evaluator's summaries of the regressor's own prediction ("before", where EFT starts)
    and of the EFT fits ("after"), over the fitted exemplars."""
    by_id = {f["exemplar_id"]: f for f in fits}
    fitted = [i for i, e in enumerate(exemplars) if str(e.id) in by_id]
    keypoints = np.stack([exemplars[i].keypoints for i in fitted])
    true_joints, true_vertices = truth["joints"][fitted], truth["vertices"][fitted]
    start = jax.jit(regressor.apply)(
        variables, jnp.asarray(np.stack([exemplars[i].image for i in fitted]))
    )
    ends = [by_id[str(exemplars[i].id)] for i in fitted]
    before = evaluate_fits(
        model, start.rotmats, start.betas, start.camera, keypoints, true_joints, true_vertices
    )
    after = evaluate_fits(
        model,
        np.stack([f["parm_pose"] for f in ends]),
        np.stack([f["parm_shape"] for f in ends]),
        np.stack([f["parm_cam"] for f in ends]),
        keypoints,
        true_joints,
        true_vertices,
    )
    return {"before": summarize(before), "after": summarize(after)}


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
) -> dict:
    start = time.perf_counter()
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = body.load(config.body_model)
    regressor, variables, regressor_source, size = load_regressor(config.checkpoint, model)

    if images_dir is None:
        inputs, pictures_from, exemplars, truth = _synthetic_inputs(config, out_dir, size)
        description = f"synthetic humans, seeds {config.first_seed}..{config.first_seed + config.num_exemplars - 1}"
    else:
        inputs, pictures_from, truth = FitInputs(images_dir, keypoints_json), images_dir, None
        exemplars = _coco_exemplars(images_dir, keypoints_json, size, config.strips)
        description = f"{keypoints_json} (images in {images_dir})"

    fits_json = out_dir / "fits.json"
    for previous in [fits_json, *all_log_paths(fits_json)]:
        previous.unlink(missing_ok=True)
    strip_exemplars = exemplars[: config.strips]
    recorded: dict = {}  # exemplar id -> the TrajectoryPoints the fit recorded for its strip
    tick = time.perf_counter()
    run_fit(
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
    )
    fit_seconds = time.perf_counter() - tick
    document = read_eft_json(fits_json)
    fits = document["data"]

    tick = time.perf_counter()
    drawn = run_render(
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
        "regressor": regressor_source,
        "body_model": model.source,
        "recipe": describe_recipe(
            config.eft, nets.read_config_record(config.checkpoint or nets.BUNDLED_REGRESSOR_DIR)
        ),
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
        report["evaluation"] = _evaluation(model, regressor, variables, exemplars, fits, truth)
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
    print(f"eft-jax demo: everything is in {out_dir}/")
    print(f"  fits (EFT JSON):   {fits_json}")
    print(
        f"  pictures + meshes: {out_dir / 'pictures'}/ ({len(drawn)} PNGs, {len(drawn.meshes)} .obj + .glb)"
    )
    print(f"  Figure-1 strips:   {out_dir / 'strips'}/ ({len(strips)})")
    print(f"  report:            {out_dir / 'report.md'}, {out_dir / 'report.json'}")
    return report
