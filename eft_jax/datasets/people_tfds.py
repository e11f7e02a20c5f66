"""Annotated-people datasets (COCO, MPII, LSPet, OpenPose, SPIN npz, 3DPW, H36M, MPI-INF-3DHP)
as tensorflow-datasets builders: crops prepared once, read with random access.

    builder = builder_for("coco", "/data/coco", split="train2014", selection="coco-all",
                          crop_size=224, data_dir="~/tensorflow_datasets")
    builder.download_and_prepare()                                        # nothing is downloaded
    source = builder.as_data_source("train")                              # numpy, no TensorFlow
    exemplar = record_exemplar(source[17])                                # an Exemplar
    eft-jax fit --dataset tfds --root <data_dir>/annotated_people/<config>/1.1.0 ...

The dataset's files are under `root` (the same root `eft-jax fit --dataset` takes; README,
"Datasets"). The config is named after the dataset, split, selection, crop size and a digest of
the root's path, so two roots prepared into one data folder never share (or return) each other's
records. Each record is one input person, in input order (`disable_shuffling`): a
person the reader or the cropper skips (an image that cannot be decoded, keypoints far outside
it, ...) is a record with its `skip_reason` and no crop, so a fit of the prepared records counts
it as a fit of the files does. Fields:

    image_jpeg      (n,) uint8      the crop (crop_size x crop_size RGB) as JPEG bytes
    keypoints       (49, 3) float32 SPIN-49 in the crop, x, y in [-1, 1], confidence
    keypoints_image (49, 3) float32 the same in image pixels (the reference, for other crops)
    center (2,) float64, scale float64: the box; image_name, id: text; annot_id int64
    skip_reason     text            why the person was skipped ('' for a crop)

Records are array_record and every feature is numpy-encodable (the JPEG bytes are a uint8
tensor), so preparing and reading need no TensorFlow. `process_share(builder, i, n)` is the part
of the split process i of n reads: contiguous, deterministic, covering every record once
(`tfds.even_splits`); empty, with a message, when there are more processes than records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from eft_jax.body.joint_sets import NUM_SPIN49
from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.registry import READERS, open_dataset
from eft_jax.formats.exemplar import Exemplar, Skip
from eft_jax.geometry.crops import crop_to_image, denormalize_image, normalize_image

JPEG_QUALITY = 95
EXACT = tfds.features.Encoding.BYTES


@dataclasses.dataclass
class PeopleConfig(tfds.core.BuilderConfig):
    dataset: str = "coco"
    root: str = ""
    source_split: str | None = None
    selection: str | None = None
    crop_size: int = 224


def builder_for(
    dataset: str,
    root,
    split: str | None = None,
    selection: str | None = None,
    crop_size: int = 224,
    data_dir=None,
) -> AnnotatedPeople:
    """The builder of one dataset root / split / selection / crop size (a config named after
    them, the root as the first 8 hex digits of its resolved path's SHA-256)."""
    if dataset not in READERS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(READERS)}")
    root = str(Path(root).expanduser().resolve())
    digest = hashlib.sha256(root.encode("utf-8")).hexdigest()[:8]
    parts = [dataset, split, selection, f"{crop_size}px", digest]
    name = "_".join(str(p).replace("/", "-").replace(".", "-") for p in parts if p)
    config = PeopleConfig(
        name=name,
        dataset=dataset,
        root=root,
        source_split=split,
        selection=selection,
        crop_size=crop_size,
    )
    return AnnotatedPeople(config=config, data_dir=data_dir)


def process_share(builder: tfds.core.DatasetBuilder, index: int, count: int, split: str = "train"):
    """The records of `split` process `index` of `count` reads (contiguous, deterministic,
    `tfds.even_splits`). With more processes than records some shares are empty: such a process
    gets no records and says so on stderr."""
    share = tfds.even_splits(split, n=count)[index]
    if builder.info.splits[share].num_examples == 0:
        total = builder.info.splits[split].num_examples
        print(
            f"process {index} of {count}: no records to read ({split} has {total})",
            file=sys.stderr,
        )
        return []
    return builder.as_data_source(share)


def encode_jpeg(crop_rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(crop_rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return np.frombuffer(buffer.getvalue(), np.uint8)


def decode_jpeg(data: np.ndarray) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(np.asarray(data, np.uint8).tobytes())) as image:
        return np.asarray(image.convert("RGB"), np.uint8)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def record_exemplar(record: dict) -> Exemplar | Skip:
    """A prepared record -> an Exemplar (the JPEG decoded and normalised), or its skip record."""
    reason = _text(record["skip_reason"])
    if reason:
        return Skip(
            _text(record["id"]), reason, int(record["annot_id"]), _text(record["image_name"])
        )
    return Exemplar(
        _text(record["id"]),
        normalize_image(decode_jpeg(record["image_jpeg"])),
        np.asarray(record["keypoints"], np.float32),
        np.asarray(record["center"], np.float64),
        float(record["scale"]),
        int(record["annot_id"]),
        _text(record["image_name"]),
    )


def prepared_crop_size(records) -> int | None:
    """The side in pixels of a prepared dataset's crops (that of the first; None without any)."""
    for record in records:
        if len(record["image_jpeg"]):
            return int(decode_jpeg(record["image_jpeg"]).shape[0])
    return None


def open_prepared(path) -> tfds.core.data_sources.ArrayRecordDataSource:
    """The records of a prepared dataset folder (`<data_dir>/annotated_people/<config>/1.1.0`),
    for `eft-jax fit --dataset tfds --root PATH`; DatasetError when it is not one."""
    from eft_jax.datasets.people import DatasetError, require_dir

    path = require_dir(path, "prepared TFDS dataset folder")
    if not (path / "dataset_info.json").is_file():
        raise DatasetError(
            f"{path}: no dataset_info.json (give the prepared version folder, e.g. .../1.1.0)"
        )
    try:
        builder = tfds.builder_from_directory(str(path))
        records = builder.as_data_source("train")
    except Exception as error:  # tfds raises several kinds for damaged folders
        raise DatasetError(
            f"{path}: not a readable prepared dataset ({type(error).__name__}: {error})"
        ) from error
    if builder.version < AnnotatedPeople.VERSION:
        raise DatasetError(
            f"{path}: prepared by an older eft-jax (version {builder.version}, without its skipped "
            f"people); prepare it again (version {AnnotatedPeople.VERSION})"
        )
    return records


class AnnotatedPeople(tfds.core.GeneratorBasedBuilder):
    """People with 2D keypoints from one of eft-jax's dataset readers, as SPIN-style crops."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: JPEG crops, SPIN-49 keypoints, boxes and ids.",
        "1.1.0": "Skipped people as records with their reason; centre and scale exact float64; "
        "the root's digest in the config name.",
    }

    @tfds.core.utils.classproperty
    @classmethod
    def _checksums_path(cls):  # nothing is downloaded (see synthetic_tfds.py)
        return None

    def __init__(self, *, file_format: str = "array_record", **kwargs):
        super().__init__(file_format=file_format, **kwargs)

    # tfds prints "Downloading and preparing dataset ..." and "... downloaded and prepared" to
    # stdout; nothing is downloaded here, and the job that prepares the data says what it does.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image_jpeg": tfds.features.Tensor(shape=(None,), dtype=np.uint8),
                    "keypoints": tfds.features.Tensor(shape=(NUM_SPIN49, 3), dtype=np.float32),
                    "keypoints_image": tfds.features.Tensor(
                        shape=(NUM_SPIN49, 3), dtype=np.float32
                    ),
                    # float64 as raw bytes: the default encoding keeps only float32
                    "center": tfds.features.Tensor(shape=(2,), dtype=np.float64, encoding=EXACT),
                    "scale": tfds.features.Tensor(shape=(), dtype=np.float64, encoding=EXACT),
                    "image_name": tfds.features.Text(),
                    "id": tfds.features.Text(),
                    "annot_id": tfds.features.Scalar(dtype=np.int64),
                    "skip_reason": tfds.features.Text(),
                }
            ),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        source = open_dataset(config.dataset, config.root, config.source_split, config.selection)
        return {"train": self._generate_examples(source)}

    def _generate_examples(self, source):
        size = self.builder_config.crop_size
        for index, item in enumerate(
            iter_exemplars(source.items, source.images_dir, crop_size=size)
        ):
            if isinstance(item, Skip):
                yield (
                    index,
                    {
                        "image_jpeg": np.zeros(0, np.uint8),
                        "keypoints": np.zeros((NUM_SPIN49, 3), np.float32),
                        "keypoints_image": np.zeros((NUM_SPIN49, 3), np.float32),
                        "center": np.zeros(2),
                        "scale": 0.0,
                        "image_name": item.image_name,
                        "id": item.id,
                        "annot_id": item.annot_id,
                        "skip_reason": item.reason,
                    },
                )
                continue
            center, scale = item.box()
            pixels = crop_to_image(item.keypoints, center, scale)
            pixels[item.keypoints[:, 2] <= 0] = 0.0
            yield (
                index,
                {
                    "image_jpeg": encode_jpeg(denormalize_image(item.image)),
                    "keypoints": item.keypoints.astype(np.float32),
                    "keypoints_image": pixels.astype(np.float32),
                    "center": center,
                    "scale": scale,
                    "image_name": item.image_name,
                    "id": str(item.id),
                    "annot_id": int(item.annot_id),
                    "skip_reason": "",
                },
            )
