"""What `eft-jax evaluate` scores a regressor on: a benchmark's exemplars with their truth and
groups, and the body models its protocol poses predictions and truth with.

    source, model, truth_models, bodies = open_source(
        "h36m-p2", root="/data/h36m", split=None, limit=None, synthetic_count=500,
        body_model_path="models/SMPL_NEUTRAL.pkl", h36m_regressor=None, gendered={},
        predicts="smpl", crop_size=224)
    for item in source.exemplars(None): ...           # Exemplar or Skip, in order

- 3dpw, h36m-p1, h36m-p2, mpi-inf-3dhp (`eft_jax.datasets.benchmarks`): SPIN's protocols need a
  regressor that predicts SMPL, the SMPL file (`body_model_path`) and SPIN's
  `J_regressor_h36m.npy` (`h36m_regressor`, default: beside the SMPL file or one folder up).
  3DPW's true meshes use SMPL's male and female models by the person's gender when their files
  are given or found beside the SMPL file (SPIN's protocol), else the given model (`bodies` says
  so);
- synthetic: held-out synthetic humans (`eft_jax.eval.heldout`, seeds from `HELDOUT_SEED_OFFSET`)
  with the truth of the bundled open body; one group per mocap clip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from eft_jax import body
from eft_jax.datasets.benchmarks import BENCHMARKS, open_benchmark
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.synthetic import HELDOUT_SEED_OFFSET
from eft_jax.errors import InputError
from eft_jax.eval.heldout import heldout_pieces
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.geometry.crops import normalize_image

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


def open_source(
    dataset: str,
    *,
    root,
    split,
    limit: int | None,
    synthetic_count: int,
    body_model_path,
    h36m_regressor,
    gendered: dict,
    predicts: str,
    crop_size: int,
) -> tuple[Source, body.BodyModel, dict, str]:
    """(what is scored, the prediction's body model, truth models by gender for 3DPW, a note on
    the body models) for `dataset` (DATASETS), crops of `crop_size` for a regressor that predicts
    `predicts`' parameters; a benchmark's files are all checked first."""
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
        source = _synthetic_source(limit or synthetic_count, crop_size)
        return source, body.load(), {}, "bundled open body model"
    if root is None:
        raise EvaluateInputError(
            f"--dataset {dataset} needs --root DIR, the folder its files are in (README, 'eft-jax evaluate')"
        )
    source = _benchmark_source(dataset, root, split, limit, crop_size)
    model, truth_models, bodies = _benchmark_models(
        dataset, body_model_path, h36m_regressor, gendered, predicts
    )
    return source, model, truth_models, bodies
