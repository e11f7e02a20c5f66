"""The 3D benchmarks `eft-jax evaluate` scores regressors on: their people (crop boxes), their 3D
truth and the sequence each frame belongs to, read with this package's readers.

    bench = open_benchmark("h36m-p2", root)
    bench.items        # AnnotatedPerson or skip record per frame, in file order
    bench.images_dir   # what their image_name are relative to
    bench.truth[id]    # {'S': (24, 4)} (Human3.6M, MPI-INF-3DHP) or {'pose', 'betas', 'gender'} (3DPW)
    bench.groups[id]   # the per-sequence table's row: '<sequence>' (3DPW), 'S9 Directions'
                       # (Human3.6M: subject and action), 'TS1' (MPI-INF-3DHP)

Files under `--root` (SPIN's `config.DATASET_FOLDERS` + `dataset_extras/` files):

| benchmark | --root holds | read by |
|---|---|---|
| 3dpw | `sequenceFiles/test/*.pkl`, `imageFiles/<sequence>/image_%05d.jpg` | `pw3d.read_pw3d(root, "test")` |
| h36m-p1 | `h36m_valid_protocol1.npz` and the `images/` its imgname name | `spin_npz.read_evaluation_npz` |
| h36m-p2 | `h36m_valid_protocol2.npz` and its `images/` | the same, then only the frontal camera's rows |
| mpi-inf-3dhp | `mpi_inf_3dhp_valid.npz` and `mpi_inf_3dhp_test_set/TS*/imageSequence/` | `spin_npz.read_evaluation_npz` |

SPIN's `datasets/preprocess/h36m.py` and `mpi_inf_3dhp.py` write the `.npz` files (SPIN's data
archive ships them). Human3.6M images are named `S<subject>_<action>.<camera>_<frame>.jpg`;
protocol 2 keeps the camera 60457274 (SPIN writes only those rows to its protocol-2 file; a
protocol-1 file given for protocol 2 is filtered the same way).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from eft_jax.datasets import pw3d, spin_npz
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, require_dir
from eft_jax.formats.exemplar import Skip

BENCHMARKS = ("3dpw", "h36m-p1", "h36m-p2", "mpi-inf-3dhp")
EVALUATION_FILES = {
    "h36m-p1": spin_npz.EVALUATION_FILES["h36m"],
    "h36m-p2": "h36m_valid_protocol2.npz",
    "mpi-inf-3dhp": spin_npz.EVALUATION_FILES["mpi-inf-3dhp"],
}
FRONTAL_CAMERA = "60457274"
H36M_NAME = re.compile(r"(S\d+)_(.+)\.(\d+)_(\d+)\.\w+$")


@dataclasses.dataclass
class Benchmark:
    name: str
    items: list[AnnotatedPerson | Skip]
    images_dir: Path
    truth: dict  # person id -> {'S': (24, 4)} or {'pose': (72,), 'betas': (10,), 'gender': str}
    groups: dict  # person id -> row name of the per-sequence table
    description: str


def h36m_name_parts(image_name: str) -> tuple[str, str, str] | None:
    """(subject, action, camera) of a Human3.6M image name as SPIN writes it
    ('images/S9_Directions_1.54138969_000001.jpg' -> ('S9', 'Directions', '54138969')): the
    action without its take number, so a table row holds every take of it. None if not such a name."""
    match = H36M_NAME.search(Path(image_name).name)
    if match is None:
        return None
    subject, action, camera, _ = match.groups()
    return subject, re.sub(r"_\d+$", "", action), camera


def mpi_sequence(image_name: str) -> str:
    """The test sequence ('TS1' .. 'TS6') of an MPI-INF-3DHP image name; the image's folder if none."""
    match = re.search(r"\b(TS\d+)\b", image_name)
    return match.group(1) if match else str(Path(image_name).parent)


def _evaluation_file(name: str, root: Path, split: str | None) -> Path:
    path = (
        Path(split)
        if split and Path(split).is_absolute()
        else root / (split or EVALUATION_FILES[name])
    )
    if not path.is_file():
        raise DatasetError(
            f"{path}: {name}'s evaluation file does not exist. It goes in --root (the folder its "
            f"imgname are relative to), as SPIN's datasets/preprocess scripts write it "
            f"({EVALUATION_FILES[name]}), or name it with --split"
        )
    return path


def _h36m(name: str, root: Path, split: str | None) -> Benchmark:
    path = _evaluation_file(name, root, split)
    evaluation = spin_npz.read_evaluation_npz(path)
    items, groups = [], {}
    for item in evaluation.items:
        parts = h36m_name_parts(item.image_name)
        if parts is None:
            raise DatasetError(
                f"{path}: row {item.id} has imgname {item.image_name!r}; Human3.6M's are "
                "S<subject>_<action>.<camera>_<frame>.jpg (SPIN's datasets/preprocess/h36m.py)"
            )
        subject, action, camera = parts
        if name == "h36m-p2" and camera != FRONTAL_CAMERA:
            continue
        items.append(item)
        groups[item.id] = f"{subject} {action}"
    truth = {key: {"S": joints} for key, joints in evaluation.joints3d.items() if key in groups}
    dropped = len(evaluation.items) - len(items)
    kept = f", {dropped} rows of other cameras left out" if dropped else ""
    return Benchmark(name, items, root, truth, groups, f"{name} {path} ({len(items)} frames{kept})")


def _mpi(root: Path, split: str | None) -> Benchmark:
    path = _evaluation_file("mpi-inf-3dhp", root, split)
    evaluation = spin_npz.read_evaluation_npz(path)
    groups = {item.id: mpi_sequence(item.image_name) for item in evaluation.items}
    truth = {key: {"S": joints} for key, joints in evaluation.joints3d.items()}
    return Benchmark("mpi-inf-3dhp", evaluation.items, root, truth, groups, f"mpi-inf-3dhp {path}")


def _pw3d(root: Path, split: str | None) -> Benchmark:
    dataset = pw3d.read_pw3d(root, split or "test")
    images = require_dir(root / "imageFiles", "3DPW imageFiles folder")
    groups = {item.id: Path(item.image_name).parent.name for item in dataset.items}
    return Benchmark(
        "3dpw",
        dataset.items,
        images.parent,
        dataset.truth,
        groups,
        f"3dpw {root} ({split or 'test'} split)",
    )


def open_benchmark(name: str, root, split: str | None = None) -> Benchmark:
    """Read benchmark `name` (BENCHMARKS) under `root`; `split` another .npz (Human3.6M,
    MPI-INF-3DHP) or 3DPW split. Missing folders and files raise DatasetError naming them."""
    if name not in BENCHMARKS:
        raise DatasetError(f"unknown benchmark {name!r}; known: {list(BENCHMARKS)}")
    root = require_dir(Path(root), f"{name} root folder")
    if name == "3dpw":
        return _pw3d(root, split)
    if name == "mpi-inf-3dhp":
        return _mpi(root, split)
    return _h36m(name, root, split)
