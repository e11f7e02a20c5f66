"""What a fitting run reads: a dataset by name, a folder of images with a COCO-format keypoint
file, or an `.npz` of crops (`FitInputs`, exactly one kind), read and checked by `read_inputs`
before the body model, the regressor or the compiler are touched.

- a dataset by name under a root folder (`--dataset coco --root DIR [--split ...] [--selection
  ...]`, see `eft_jax.datasets.registry`; `--dataset tfds` reads crops prepared by
  `eft_jax.datasets.people_tfds`);
- a folder of images with a COCO-format keypoint file;
- an `.npz` of crops with SPIN-49 keypoints (`eft_jax.formats.exemplar_npz`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.registry import DatasetSource, open_coco_files, open_dataset
from eft_jax.errors import InputError
from eft_jax.fitting.exemplar import Exemplar
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.exemplar_npz import iter_exemplars_npz, read_exemplars_npz


class FitInputError(InputError, ValueError):
    """The command line names no input, or two kinds of input at once."""


@dataclasses.dataclass
class FitInputs:
    """What to fit: a dataset (dataset + root), images_dir + keypoints_json, or crops_npz."""

    images_dir: Path | None = None
    keypoints_json: Path | None = None
    crops_npz: Path | None = None
    dataset: str | None = None
    root: Path | None = None
    split: str | None = None
    selection: str | None = None

    def __post_init__(self):
        coco = self.images_dir is not None or self.keypoints_json is not None
        named = self.dataset is not None or self.root is not None
        if coco + named + (self.crops_npz is not None) != 1:
            raise FitInputError(
                "give one input: --dataset NAME --root DIR, --images DIR with --keypoints FILE.json, "
                "or --crops FILE.npz"
            )
        if coco and (self.images_dir is None or self.keypoints_json is None):
            raise FitInputError("--images and --keypoints go together")
        if named and (self.dataset is None or self.root is None):
            raise FitInputError("--dataset and --root go together")
        if self.split is not None and not named:
            raise FitInputError("--split goes with --dataset")
        if self.selection is not None and self.crops_npz is not None:
            raise FitInputError("--selection goes with --dataset or --images/--keypoints")


@dataclasses.dataclass
class InputStream:
    """The read inputs: ids in input order, a description, and the exemplars of a subset."""

    order: list[str]
    description: str
    image_prefix: str = ""  # SPIN's imgname = image_prefix + imageName (DatasetSource)
    crop_size: int | None = None  # the side of prepared crops (TFDS): the size they are fitted at
    _source: DatasetSource | None = None
    _arrays: dict | None = None
    _records: object = None  # a prepared TFDS data source

    def exemplars(self, wanted: set[str], crop_size: int) -> Iterator[Exemplar | Skip]:
        """Exemplars and skip records of the ids in `wanted`, in input order (only those are
        cropped or decoded)."""
        if self._arrays is not None:
            return (item for item in iter_exemplars_npz(self._arrays) if str(item.id) in wanted)
        if self._records is not None:
            from eft_jax.datasets.people_tfds import record_exemplar  # tfds only when used

            return (
                record_exemplar(self._records[i])
                for i, id_ in enumerate(self.order)
                if id_ in wanted
            )
        items = [item for item in self._source.items if str(item.id) in wanted]
        return iter_exemplars(items, self._source.images_dir, crop_size=crop_size)


def read_inputs(inputs: FitInputs) -> InputStream:
    """Read and check every input file (raises DatasetError / ExemplarFileError / CocoFormatError)."""
    if inputs.crops_npz is not None:
        arrays = read_exemplars_npz(inputs.crops_npz)
        return InputStream([str(i) for i in arrays["ids"]], str(inputs.crops_npz), _arrays=arrays)
    if inputs.dataset == "tfds":
        if inputs.split is not None or inputs.selection is not None:
            raise FitInputError(
                "a prepared TFDS dataset has no --split or --selection (they were chosen when preparing it)"
            )
        from eft_jax.datasets.people_tfds import (  # tfds only when used
            open_prepared,
            prepared_crop_size,
        )

        records = open_prepared(inputs.root)
        order = [record["id"].decode() for record in records]
        size = prepared_crop_size(records)
        return InputStream(order, f"tfds {inputs.root}", crop_size=size, _records=records)
    if inputs.dataset is not None:
        source = open_dataset(inputs.dataset, inputs.root, inputs.split, inputs.selection)
    else:
        source = open_coco_files(inputs.images_dir, inputs.keypoints_json, inputs.selection)
    return InputStream(source.ids, source.description, source.image_prefix, _source=source)
