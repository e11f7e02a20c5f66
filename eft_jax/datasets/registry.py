"""Datasets by name: `--dataset NAME --root DIR [--split S] [--selection R]` -> annotated people.

    source = open_dataset("coco", "/data/coco", split="train2014", selection="coco-all")
    source.items        # AnnotatedPerson or skip record per input person, in input order
    source.images_dir   # where their image_name are relative to
    source.image_prefix # images_dir relative to root: SPIN's imgname is image_prefix + image_name
    exemplars = iter_exemplars(source.items, source.images_dir, crop_size=224)

Every reader checks its folders and annotation files before returning, so a missing root, a
missing images folder or a malformed file is a `DatasetError` before anything is fitted. The
files each dataset needs, and where, are in the README ("Datasets") and in each module.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from eft_jax.datasets import coco, lspet, mpii, openpose, pw3d, spin_npz
from eft_jax.datasets.people import AnnotatedPerson, DatasetError, require_dir
from eft_jax.formats.exemplar import Skip

READERS = {
    "coco": coco.read_split,
    "mpii": mpii.read_split,
    "lspet": lspet.read_split,
    "openpose": openpose.read_split,
    "spin-npz": spin_npz.read_split,
    "3dpw": pw3d.read_split,
    "h36m": spin_npz.evaluation_reader("h36m"),
    "mpi-inf-3dhp": spin_npz.evaluation_reader("mpi-inf-3dhp"),
}


@dataclasses.dataclass
class DatasetSource:
    """What a reader found: items in input order, their images folder, a one-line description,
    and the images folder's path inside the dataset folder ("train2014/", "images/", or "").

    SPIN's loader joins its dataset folder with an `imgname`, and SPIN's preprocessing writes
    imgname relative to the dataset folder (datasets/preprocess/coco.py 'train2014/<file>',
    mpii.py 'images/<file>', hr_lspet.py '<file>', pw3d.py 'imageFiles/<sequence>/<file>', h36m.py
    and mpi_inf_3dhp.py the names their .npz hold): `image_prefix + image_name` is that name."""

    items: list[AnnotatedPerson | Skip]
    images_dir: Path
    description: str
    image_prefix: str = ""

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]


def open_dataset(
    name: str, root, split: str | None = None, selection: str | None = None
) -> DatasetSource:
    """Read dataset `name` under `root` (see READERS for the names)."""
    if name not in READERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(READERS)}")
    items, images_dir = READERS[name](Path(root), split, selection)
    parts = [name, str(root)] + [
        f"{k}={v}" for k, v in (("split", split), ("selection", selection)) if v
    ]
    inside = Path(os.path.relpath(Path(images_dir).absolute(), Path(root).absolute())).as_posix()
    prefix = "" if inside == "." else f"{inside}/"
    return DatasetSource(items, Path(images_dir), " ".join(parts), prefix)


def open_coco_files(images_dir, keypoints_json, selection: str | None = None) -> DatasetSource:
    """The user's own data: a folder of images and a COCO-format keypoint file."""
    images_dir = require_dir(images_dir, "images folder")
    items = coco.read_coco_keypoints(keypoints_json, selection=selection or "coco-all")
    return DatasetSource(items, images_dir, f"{keypoints_json} (images in {images_dir})")
