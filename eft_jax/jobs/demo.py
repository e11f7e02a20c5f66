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
- `strips/<name>.png`: the paper's Figure-1 strip for the first `strips` exemplars
  (`eft_jax.eval.strips`): the input with its keypoints, the body after a few EFT iterations
  (recorded by the fit itself, `fitting.fit_stream(record=...)`), the final fit and its side view;
- `report.md` / `report.json` (`eft_jax.eval.fit_report`): 2D keypoint error and loss before and
  after EFT (the fit's own figures), and for synthetic humans the scores of the config's evaluator
  (`evaluator`, by default `synthetic_truth`, `eft_jax.eval.evaluators`: MPJPE, PA-MPJPE, PVE, 2D
  error, facing and left/right swaps) of the regressor's own prediction and of the EFT fits; and
  the time;
- `report/index.html`: the same figures with the gallery of every fit, a page per fit with its
  strip and a 3D view, and for synthetic humans each fit's errors against the truth and the
  kept-fraction curves (`eft_jax.report`, as `eft-jax report`).
  Synthetic inputs also leave `images/` (the crops) and `exemplars.npz` (crops + keypoints),
  written by `eft_jax.eval.heldout.write_fit_inputs`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import ml_collections

from eft_jax import body, nets
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.registry import open_coco_files
from eft_jax.eval import evaluators
from eft_jax.eval.fit_report import (
    before_after_rows,
    fit_report,
    report_markdown,
    score_before_after,
)
from eft_jax.eval.heldout import write_fit_inputs
from eft_jax.eval.pictures import draw_fits
from eft_jax.eval.strips import draw_strips
from eft_jax.fitting import Exemplar
from eft_jax.fitting.exemplar import check_camera
from eft_jax.fitting.inputs import FitInputs
from eft_jax.fitting.recipe import describe_recipe
from eft_jax.fitting.run import RunOutcome, eft_method, log_path_for, run_fitting
from eft_jax.formats.eft_json import read_eft_json
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.run_lock import RunLock
from eft_jax.report import CropSource, read_run, sharing_note, write_report


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


def run_demo(
    config: ml_collections.ConfigDict,
    images_dir: Path | None = None,
    keypoints_json: Path | None = None,
) -> RunOutcome:
    """The demo in `config.output_dir` (module docstring); returns its fitting run's outcome."""
    check_camera(config.eft.get("camera", "crop"))  # before the humans are drawn
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
        seeds = range(config.first_seed, config.first_seed + config.num_exemplars)
        inputs, pictures_from, exemplars, truth = write_fit_inputs(seeds, out_dir, crop_size=size)
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
    strips = draw_strips(
        strip_exemplars, recorded, fits, model, picture_size=config.picture_size, out_dir=out_dir
    )
    strip_seconds = time.perf_counter() - tick
    report = fit_report(
        fits,
        document["skipped"],
        inputs=description,
        crop_size=size,
        regressor=loaded.source,
        body_model=model.source,
        recipe=describe_recipe(config.eft, loaded.record),
        max_iters=int(config.eft.max_iters),
    )
    # The synthetic ground truth is joints of the bundled open body: 3D errors of another body
    # model's fits would mix two skeletons, so they are reported only for the open model.
    per_fit = {}
    if truth is not None and fits and model.kind == "open":
        evaluator = evaluators.from_config(config.evaluator, model=model, dataset="synthetic")
        report["evaluation"], per_fit = score_before_after(
            evaluator, regressor, variables, exemplars, fits, truth
        )
    report["seconds"] = {
        "total": time.perf_counter() - start,
        "fit": fit_seconds,
        "pictures": picture_seconds,
        "strips": strip_seconds,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    markdown = report_markdown(report)
    (out_dir / "report.md").write_text(markdown)
    run = read_run(fits_json)
    html = write_report(
        [run],
        out_dir / "report",
        model=model,
        crops=CropSource.from_images(pictures_from),
        thumbnail_size=config.thumbnail_size,
        title=f"eft-jax demo: {description}",
        strips_dir=out_dir / "strips",
        extra={
            row["key"]: {
                f"truth.{name}": value for name, value in per_fit[entry["exemplar_id"]].items()
            }
            for row, entry in zip(run.rows, run.entries)
            if entry.get("exemplar_id") in per_fit
        },
        tables=[
            {
                "title": "before and after EFT",
                "header": ["", "before EFT", "after EFT"],
                "rows": [[name, *values] for name, values in before_after_rows(report)],
            }
        ],
    )

    print(markdown)
    print(f"  fits (EFT JSON):   {fits_json}")
    print(
        f"  pictures + meshes: {out_dir / 'pictures'}/ ({len(drawn)} PNGs, {len(drawn.meshes)} .obj + .glb)"
    )
    print(f"  Figure-1 strips:   {out_dir / 'strips'}/ ({len(strips)})")
    print(f"  report:            {out_dir / 'report.md'}, {out_dir / 'report.json'}")
    print(f"  HTML report:       {html.index} (open it in a browser)")
    if sharing_note(model.kind):
        print(f"  note: {sharing_note(model.kind)}")
    outcome.job = "demo"
    outcome.seconds = report["seconds"]["total"]
    return outcome
