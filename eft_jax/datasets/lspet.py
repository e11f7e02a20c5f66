"""LSP Extended, high-resolution annotations (hr-lspet: `joints.mat` + `im00001.png` ...) ->
annotated people.

Joint mapping: LSP-14 (r ankle, r knee, r hip, l hip, l knee, l ankle, r wrist, r elbow,
r shoulder, l shoulder, l elbow, l wrist, neck, head top) -> the first 14 SPIN-49 ground-truth
keypoints (`body.joint_sets.LSP14_IN_SPIN49`; SPIN's `datasets/preprocess/hr_lspet.py`).

`joints.mat` holds `joints`, 14 x 3 x N: x, y and a flag per joint, for the N images sorted by
name (SPIN pairs them the same way: `sorted(glob('*.png'))[i]` with `joints[:, :, i]`). The box is
SPIN's: the keypoints' bounding box centre, scale = 1.2 x its longer side / 200.

One difference from SPIN, on purpose: SPIN gives every joint confidence 1 and ignores the flag;
here a joint flagged 0 (hr-lspet's "not visible / not annotated", whose coordinates are often
(0, 0) or off the picture) gets confidence 0 and stays out of the box, so an unannotated joint
never stretches the box or pulls the fit. The other joints get confidence 1.

Layout under a root: root/joints.mat and root/im*.png (hr-lspet's archive as it unpacks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import to_spin49
from eft_jax.datasets.people import (
    AnnotatedPerson,
    DatasetError,
    person_or_skip,
    require_dir,
    require_file,
)
from eft_jax.formats.exemplar import Skip

MIN_KEYPOINTS = 2  # a box needs two points


def read_lspet(joints_mat: str | Path, image_names: list[str]) -> list[AnnotatedPerson | Skip]:
    """An AnnotatedPerson or skip record per image (ids: the image's stem, e.g. 'im00001')."""
    path = Path(joints_mat)
    try:
        from scipy.io import loadmat

        data = loadmat(path)
    except Exception as error:  # truncated or not a MATLAB file
        raise DatasetError(
            f"{path}: not a readable MATLAB file ({type(error).__name__}: {error})"
        ) from error
    if "joints" not in data:
        raise DatasetError(
            f"{path}: no 'joints' array (has {sorted(k for k in data if not k.startswith('__'))})"
        )
    joints = np.asarray(data["joints"])
    if (
        joints.ndim != 3
        or joints.shape[:2] != (14, 3)
        or not np.issubdtype(joints.dtype, np.number)
    ):
        raise DatasetError(
            f"{path}: 'joints' must be numeric 14 x 3 x N (hr-lspet); got {joints.dtype} {joints.shape}"
        )
    if joints.shape[2] != len(image_names):
        raise DatasetError(
            f"{path}: 'joints' has {joints.shape[2]} people but the folder has {len(image_names)} .png images"
        )
    items = []
    for i, name in enumerate(image_names):
        lsp = np.array(joints[:, :, i], np.float64)
        lsp[:, 2] = (lsp[:, 2] > 0).astype(np.float64)
        items.append(
            person_or_skip(
                Path(name).stem, name, to_spin49(lsp, "lsp14"), min_keypoints=MIN_KEYPOINTS
            )
        )
    return items


def read_split(root: str | Path, split: str | None = None, selection: str | None = None):
    """(items, images folder) of hr-lspet under `root` (module docstring)."""
    root = require_dir(root, "LSPet root folder")
    if split not in (None, "train"):
        raise DatasetError(f"LSPet has one split, 'train'; got {split!r}")
    if selection is not None:
        raise DatasetError(f"LSPet has one selection; got {selection!r}")
    joints_mat = require_file(root / "joints.mat", "LSPet joints.mat")
    names = sorted(p.name for p in root.glob("*.png"))
    return read_lspet(joints_mat, names), root
