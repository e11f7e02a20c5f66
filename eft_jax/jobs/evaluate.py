"""`eft-jax evaluate`: a regressor's 3D errors on a benchmark, by SPIN's protocols.

    config = load_config(default_config_path("evaluate"), ["dataset='h36m-p2'", "root='/data/h36m'",
                         "checkpoint='checkpoints/spin'", "body_model='models/SMPL_NEUTRAL.pkl'"])
    run_evaluate(config)                                          # configs/evaluate.py

The regressor (an eft-jax checkpoint: the bundled one, one trained by `eft-jax train`, or a SPIN
checkpoint converted by `eft-jax convert-spin`) runs once on every benchmark crop (SPIN's crop,
at the regressor's input size, no augmentation); its body is scored against the 3D truth:

- 3dpw, h36m-p1, h36m-p2, mpi-inf-3dhp (`eft_jax.datasets.benchmarks`): SPIN's protocols
  (`eft_jax.eval.protocols`, evaluator `spin_protocol`): H36M-17 joints regressed from the SMPL mesh, so these need a
  regressor that predicts SMPL, the SMPL file (`body_model_path`) and SPIN's
  `J_regressor_h36m.npy` (`h36m_regressor`, default: beside the SMPL file or one folder up).
  3DPW's true meshes use SMPL's male and female models by the person's gender when their files
  are given or found beside the SMPL file (SPIN's protocol), else the given model (said so in the
  summary);
- synthetic: held-out synthetic humans (`eft_jax.eval.heldout`, seeds from `HELDOUT_SEED_OFFSET`,
  as experiments/compare_fitting/) with the truth of the bundled open body, scored by the
  project's evaluator (evaluator `synthetic_truth`, `eval.evaluation.evaluate_fits`: LSP-14 joints,
  hip-centred, PVE, 2D error, facing and left/right swaps); one table row per mocap clip.

The config's `evaluator` names another evaluator plug-in (`eft_jax.eval.evaluators`) than the
dataset's own.

Writes into `out_dir`: `summary.md` and `summary.json` (protocol, regressor, body models, counts,
means, the per-sequence table, skipped exemplars with reasons), `per_exemplar.csv`, and
`worst/NN_<id>.png` for the `worst` exemplars of largest PA-MPJPE: [crop | the prediction over the
crop | side view].
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import ml_collections
import numpy as np

from eft_jax import body, nets, render
from eft_jax.datasets.benchmarks import BENCHMARKS, open_benchmark
from eft_jax.datasets.people import DatasetError, iter_exemplars
from eft_jax.datasets.synthetic import HELDOUT_SEED_OFFSET
from eft_jax.errors import InputError
from eft_jax.eval import evaluators
from eft_jax.eval.evaluation import group_table
from eft_jax.eval.heldout import heldout_pieces
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.formats.images import save_png
from eft_jax.geometry.crops import denormalize_image, normalize_image
from eft_jax.progress import Progress, note

DATASETS = (*BENCHMARKS, "synthetic")
H36M_REGRESSOR_FILE = "J_regressor_h36m.npy"
# SMPL's gendered model files by the names SMPL's releases and SPIN's data folder use.
GENDERED_FILES = {
    "m": (
        "smpl_male.pkl",
        "smpl_male.npz",
        "basicmodel_m_lbs_10_207_0_v1.0.0.pkl",
        "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
    ),
    "f": (
        "smpl_female.pkl",
        "smpl_female.npz",
        "basicmodel_f_lbs_10_207_0_v1.0.0.pkl",
        "basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
    ),
}
# (score, column title) in table order; a table shows the scores its rows have.
COLUMNS = (
    ("mpjpe_mm", "MPJPE (mm)"),
    ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
    ("pve_mm", "PVE (mm)"),
    ("pck150_pct", "PCK@150 (%)"),
    ("auc_pct", "AUC (%)"),
    ("pa_pck150_pct", "PA-PCK@150 (%)"),
    ("pa_auc_pct", "PA-AUC (%)"),
    ("error_2d_px", "2D error (px at 224)"),
    ("facing_error_deg", "facing error (deg)"),
    ("lr_swap_pct", "% L/R pairs swapped"),
)
WORST_BY = "pa_mpjpe_mm"
# The evaluator plug-in (eft_jax.eval.evaluators) of each dataset, unless the config names one.
DATASET_EVALUATOR = {"synthetic": "synthetic_truth"}


class EvaluateInputError(InputError, ValueError):
    """A benchmark that cannot be scored as asked: a missing body file, a regressor and body model
    that do not fit the protocol."""


@dataclasses.dataclass
class Source:
    """What is scored: exemplars in order (or only the `wanted` ids), each one's truth and group."""

    description: str
    ids: list[str]
    groups: dict
    exemplars: Callable[[set | None], Iterator[Exemplar | Skip]]
    truth: dict  # id -> per-exemplar truth (filled as synthetic exemplars are made)


def find_beside(body_path: Path, names) -> Path | None:
    """The first file in the SMPL file's folder or the folder above whose name, lower-cased, is one
    of `names` (SPIN's data/ folder holds J_regressor_h36m.npy, data/smpl/ the SMPL files)."""
    wanted = {name.lower() for name in names}
    for folder in (body_path.parent, body_path.parent.parent):
        for path in sorted(folder.glob("*")) if folder.is_dir() else ():
            if path.is_file() and path.name.lower() in wanted:
                return path
    return None


def _benchmark_models(
    dataset, body_model_path, h36m_regressor, gendered, predicts
) -> tuple[body.BodyModel, dict, str]:
    """(the prediction's body model, truth models by gender for 3DPW, a note on them)."""
    if body_model_path is None:
        if predicts == "smpl":
            raise EvaluateInputError(
                f"the regressor predicts SMPL's parameters and {dataset}'s protocol poses them on SMPL: pass "
                "--body with the SMPL model file (e.g. --body models/SMPL_NEUTRAL.pkl), with SPIN's "
                f"{H36M_REGRESSOR_FILE} beside it or given by --h36m-regressor"
            )
        raise EvaluateInputError(
            f"{dataset} is scored on Human3.6M's 17 joints regressed from a SMPL mesh ({H36M_REGRESSOR_FILE}, "
            "17 x 6890), which the bundled open body model has no counterpart of. Bring a regressor that "
            "predicts SMPL (eft-jax convert-spin model_checkpoint.pt --out DIR, then --checkpoint DIR), SMPL's "
            f"model file (--body SMPL_NEUTRAL.pkl) and SPIN's {H36M_REGRESSOR_FILE} (beside it, or "
            "--h36m-regressor); README, 'What you bring'"
        )
    body_model_path = Path(body_model_path)
    regressor_path = (
        Path(h36m_regressor)
        if h36m_regressor
        else find_beside(body_model_path, [H36M_REGRESSOR_FILE])
    )
    if regressor_path is None or not regressor_path.is_file():
        where = regressor_path or f"{body_model_path.parent}/ or {body_model_path.parent.parent}/"
        raise EvaluateInputError(
            f"{H36M_REGRESSOR_FILE} not found ({where}): SPIN's protocols regress the scored joints from the "
            "mesh with it. It comes with SPIN's data (fetch_data.sh); put it beside the SMPL file or pass "
            "--h36m-regressor PATH"
        )
    load = lambda path: body.load(path, joint_regressor_h36m=regressor_path)  # noqa: E731
    model = load(body_model_path)
    if dataset != "3dpw":
        return model, {}, f"{body_model_path}, H36M-17 regressor {regressor_path}"
    paths = {
        g: Path(gendered[g]) if gendered.get(g) else find_beside(body_model_path, GENDERED_FILES[g])
        for g in "mf"
    }
    if all(paths.values()):
        note = f"true meshes: male {paths['m']}, female {paths['f']} (SPIN's protocol)"
        return (
            model,
            {g: load(p) for g, p in paths.items()},
            f"{body_model_path}, H36M-17 regressor {regressor_path}; {note}",
        )
    note = (
        f"true meshes: {body_model_path} for everyone (SMPL's male and female files were not given or found "
        "beside it, so this is not SPIN's protocol: --body-male / --body-female)"
    )
    return (
        model,
        {"neutral": model},
        f"{body_model_path}, H36M-17 regressor {regressor_path}; {note}",
    )


def _benchmark_source(dataset: str, root, split, limit: int | None, crop_size: int) -> Source:
    bench = open_benchmark(dataset, root, split)
    items = bench.items[:limit] if limit is not None else bench.items
    ids = [str(item.id) for item in items]

    def exemplars(wanted=None):
        chosen = items if wanted is None else [i for i, id_ in zip(items, ids) if id_ in wanted]
        return iter_exemplars(chosen, bench.images_dir, crop_size=crop_size)

    return Source(bench.description, ids, bench.groups, exemplars, bench.truth)


def _synthetic_source(count: int, crop_size: int) -> Source:
    seeds = range(HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + count)
    ids = [str(seed) for seed in seeds]
    groups, truth = {}, {}

    def exemplars(wanted=None):
        chosen = [s for s in seeds if wanted is None or str(s) in wanted]
        for samples in heldout_pieces(chosen, crop_size=crop_size):
            for i, seed in enumerate(samples["seed"]):
                key = str(int(seed))
                groups[key] = str(samples["clip"][i])
                truth[key] = {
                    "joints3d_spin49": samples["joints3d_spin49"][i],
                    "vertices": samples["vertices"][i],
                }
                yield Exemplar(key, normalize_image(samples["image"][i]), samples["keypoints"][i])

    description = f"{count} held-out synthetic humans (seeds {seeds.start:,}..{seeds.stop - 1:,}), bundled open body"
    return Source(description, ids, groups, exemplars, truth)


def _batches(items: Iterator, size: int, on_skip: Callable) -> Iterator[list[Exemplar]]:
    batch = []
    for item in items:
        if isinstance(item, Skip):
            on_skip(item)
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _predictor(regressor, variables, batch_size: int):
    """images (n <= batch_size, S, S, 3) -> (rotmats, betas, cameras) as numpy; batches are padded
    to batch_size so one program serves every batch."""
    apply = jax.jit(lambda images: regressor.apply(variables, images))

    def predict(images):
        count = len(images)
        padded = np.concatenate(
            [images, np.zeros((batch_size - count, *images.shape[1:]), images.dtype)]
        )
        out = jax.device_get(apply(padded))
        return out.rotmats[:count], out.betas[:count], out.camera[:count]

    return predict


def _score_batch(evaluator, batch, rotmats, betas, cameras, truth, size: int) -> dict:
    """Scores of a batch, padded to `size` (repeating its last exemplar) so that every batch runs
    one compiled program."""
    count = len(batch)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], size - count, axis=0)])  # noqa: E731
    batch = batch + [batch[-1]] * (size - count)
    rotmats, betas, cameras = pad(rotmats), pad(betas), pad(cameras)
    keypoints = np.stack([e.keypoints for e in batch])
    records = [truth[str(e.id)] for e in batch]
    scores = evaluator.scores(rotmats, betas, cameras, keypoints, records)
    return {key: value[:count] for key, value in scores.items()}


def _table(rows: list[dict], first: str) -> str:
    keys = [(k, t) for k, t in COLUMNS if any(r.get(k) is not None for r in rows)]
    cell = lambda v: "–" if v is None else f"{v:.1f}" if not isinstance(v, int) else str(v)  # noqa: E731
    lines = [
        "| " + " | ".join([first, "exemplars"] + [t for _, t in keys]) + " |",
        "|---|" + "---:|" * (1 + len(keys)),
    ]
    lines += [
        "| "
        + " | ".join([str(r["group"]), str(r["exemplars"])] + [cell(r.get(k)) for k, _ in keys])
        + " |"
        for r in rows
    ]
    return "\n".join(lines)


def _render_worst(source, model, order, predictions, out_dir: Path, count: int) -> list[str]:
    worst = [order[i] for i in np.argsort(-predictions["score"])[:count]]
    rank = {id_: n for n, id_ in enumerate(worst)}
    forward = jax.jit(body.forward)
    faces = np.asarray(model.faces)
    written = [None] * len(worst)
    for exemplar in source.exemplars(set(worst)):
        if isinstance(exemplar, Skip) or str(exemplar.id) not in rank:
            continue
        index = order.index(str(exemplar.id))
        vertices = np.asarray(
            forward(model, predictions["rotmats"][index], predictions["betas"][index]).vertices
        )
        panels = render.fit_panels(
            denormalize_image(exemplar.image), vertices, faces, predictions["cameras"][index]
        )
        n = rank[str(exemplar.id)]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(exemplar.id))
        written[n] = str(save_png(out_dir / "worst" / f"{n + 1:02d}_{safe}.png", panels))
    return [w for w in written if w]


def run_evaluate(config: ml_collections.ConfigDict) -> dict:
    """Score a regressor on `config.dataset` (DATASETS; configs/evaluate.py); returns the summary
    written to summary.json."""
    start = time.perf_counter()
    dataset, root, split = config.dataset, config.root, config.split
    checkpoint, body_model_path, out_dir = config.checkpoint, config.body_model, config.output_dir
    limit, batch_size, worst = config.limit, config.batch_size, config.worst
    if dataset not in DATASETS:
        raise EvaluateInputError(f"unknown --dataset {dataset!r}; known: {list(DATASETS)}")
    if batch_size < 1 or (limit is not None and limit < 1) or worst < 0:
        raise EvaluateInputError(
            f"batch size and limit must be >= 1, worst >= 0; got {batch_size}, {limit}, {worst}"
        )
    out_dir = (
        Path(out_dir) if out_dir is not None else Path("eft_jax_output") / "evaluate" / dataset
    )
    record = nets.regressor_record(checkpoint)
    predicts = nets.predicted_body_kind(record)
    crop_size = nets.trained_crop_size(record)

    if dataset == "synthetic":
        if root is not None or split is not None:
            raise EvaluateInputError(
                "--dataset synthetic makes its own humans: it takes no --root or --split"
            )
        if body_model_path is not None or predicts == "smpl":
            raise EvaluateInputError(
                "synthetic humans' truth is the bundled open body's: evaluate a regressor that predicts it "
                "(the bundled one, or one from eft-jax train) without --body"
            )
        source = _synthetic_source(limit or config.synthetic_count, crop_size)
        model, truth_models, bodies = body.load(), {}, "bundled open body model"
    else:
        if root is None:
            raise EvaluateInputError(
                f"--dataset {dataset} needs --root DIR, the folder its files are in (README, 'eft-jax evaluate')"
            )
        source = _benchmark_source(
            dataset, root, split, limit, crop_size
        )  # every file checked first
        gendered = {"m": config.body_male, "f": config.body_female}
        model, truth_models, bodies = _benchmark_models(
            dataset, body_model_path, config.h36m_regressor, gendered, predicts
        )
    loaded = nets.load_regressor(checkpoint, model)
    regressor_source = loaded.source
    evaluator = evaluators.from_config(
        config.evaluator or DATASET_EVALUATOR.get(dataset, "spin_protocol"),
        model=model,
        dataset=dataset,
        truth_models=truth_models,
    )

    note(
        f"eft-jax evaluate: {len(source.ids)} exemplars of {source.description}; regressor {regressor_source}; "
        f"body {bodies}; {crop_size} px crops"
    )
    predict = _predictor(loaded.regressor, loaded.variables, batch_size)
    skipped, order, parts = [], [], []
    predictions = {"rotmats": [], "betas": [], "cameras": []}
    progress = Progress(total=len(source.ids))

    def skip(item, reason=None):
        skipped.append({"id": item.id, "reason": reason or item.reason})
        progress.update()

    for batch in _batches(source.exemplars(None), batch_size, skip):
        problems = {str(e.id): evaluator.truth_problem(source.truth.get(str(e.id))) for e in batch}
        for e in batch:
            if problems[str(e.id)]:
                skip(Skip(e.id, problems[str(e.id)], e.annot_id, e.image_name))
        batch = [e for e in batch if not problems[str(e.id)]]
        if not batch:
            continue
        rotmats, betas, cameras = predict(np.stack([e.image for e in batch]))
        finite = (
            np.all(np.isfinite(rotmats), axis=(1, 2, 3))
            & np.all(np.isfinite(betas), 1)
            & np.all(np.isfinite(cameras), 1)
        )
        for e in (e for e, ok in zip(batch, finite) if not ok):
            skip(
                Skip(
                    e.id,
                    "the regressor's prediction has NaN or infinite values",
                    e.annot_id,
                    e.image_name,
                )
            )
        batch = [e for e, ok in zip(batch, finite) if ok]
        if not batch:
            continue
        rotmats, betas, cameras = rotmats[finite], betas[finite], cameras[finite]
        parts.append(
            _score_batch(evaluator, batch, rotmats, betas, cameras, source.truth, batch_size)
        )
        order += [str(e.id) for e in batch]
        for e in batch:  # scored: its truth (a synthetic human's mesh) is no longer needed
            source.truth.pop(str(e.id), None)
        for key, value in zip(("rotmats", "betas", "cameras"), (rotmats, betas, cameras)):
            predictions[key].append(value)
        progress.update(len(batch))
    progress.close()
    if not order:
        raise DatasetError(
            f"nothing to score: every one of the {len(source.ids)} exemplars was skipped, e.g. {skipped[:1]}"
        )

    per = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    if dataset == "synthetic":  # the fitting comparison's columns, then swaps as a percentage
        synthetic_summary = evaluator.summary(per)
        per["lr_swap_pct"] = 100.0 * per.pop("lr_swaps")
    predictions = {key: np.concatenate(value) for key, value in predictions.items()} | {
        "score": per[WORST_BY]
    }
    groups = [source.groups[i] for i in order]
    summary = {
        "dataset": dataset,
        "protocol": evaluator.description,
        "source": source.description,
        "regressor": regressor_source,
        "body_models": bodies,
        "crop_size": crop_size,
        "scored": len(order),
        "skipped": skipped,
        "overall": group_table(per, ["all"] * len(order))[0],
        "per_sequence": group_table(per, groups),
    }
    if dataset == "synthetic":
        summary["synthetic_summary"] = synthetic_summary
    out_dir.mkdir(parents=True, exist_ok=True)
    summary["worst"] = (
        _render_worst(source, model, order, predictions, out_dir, worst) if worst else []
    )
    _write_outputs(out_dir, summary, per, order, groups)
    print(_summary_markdown(summary))
    print(
        f"eft-jax evaluate: wrote {out_dir}/summary.md, summary.json, per_exemplar.csv and "
        f"{len(summary['worst'])} pictures ({time.perf_counter() - start:.1f} s)"
    )
    return summary


def _summary_markdown(summary: dict) -> str:
    reasons: dict[str, int] = {}
    for item in summary["skipped"]:
        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
    lines = [
        f"# eft-jax evaluate: {summary['dataset']}",
        "",
        f"- frames: {summary['protocol']}",
        f"- data: {summary['source']}",
        f"- regressor: {summary['regressor']} ({summary['crop_size']} px crops)",
        f"- body: {summary['body_models']}",
        f"- scored {summary['scored']}, skipped {len(summary['skipped'])}",
        *[
            f"  - {count} x {reason}"
            for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])
        ],
        "",
        _table([summary["overall"]], "set"),
        "",
        "Per sequence:",
        "",
        _table(summary["per_sequence"], "sequence"),
    ]
    if summary["worst"]:
        lines += [
            "",
            f"Worst {len(summary['worst'])} by PA-MPJPE: "
            + ", ".join(Path(p).name for p in summary["worst"]),
        ]
    return "\n".join(lines) + "\n"


def _write_outputs(
    out_dir: Path, summary: dict, per: dict, order: list[str], groups: list[str]
) -> None:
    (out_dir / "summary.md").write_text(_summary_markdown(summary))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    with open(out_dir / "per_exemplar.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sequence", *per])
        for n, id_ in enumerate(order):
            writer.writerow([id_, groups[n], *(f"{per[k][n]:.4f}" for k in per)])
