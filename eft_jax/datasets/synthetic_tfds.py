"""Synthetic humans (`eft_jax.datasets.synthetic`) as a tensorflow-datasets builder.

    builder = SyntheticHumans(config="128px", data_dir="~/tensorflow_datasets")
    builder.download_and_prepare()             # renders every sample once (no download)
    train = builder.as_data_source("train")    # random access, numpy, no TensorFlow needed
    train[17]["image"], train[17]["keypoints"]

Configs "128px" and "224px" render the "basic" style (the bundled regressor's first-stage data, version
1.0.0); "lifelike_128px" and "lifelike_224px" the "lifelike" style (its own version, 2.0.0, and
three more fields: pose_source 0 clip / 1 interpolated / 2 random, truncated, clip);
"full_frame_128px" and "full_frame_224px" the "full_frame" style (version 3.0.0: the lifelike
fields but truncated, and the camera's truth: translation, focal_px, principal_px, image_size,
box_center, box_scale, keypoints_frame; `synthetic_full_frame`). Each split
is a fixed range of `make_sample` seeds, so a prepared dataset is a cache of samples
anyone can regenerate bit for bit: train uses seeds [0, num_train), validation (the held-out set
the bundled regressor is scored on) uses seeds [VALIDATION_SEED_OFFSET, ... + num_validation).
Records are written in seed order (`disable_shuffling`), so `split[i]` is seed `offset + i`.

The files are array_record and every feature is a raw `tfds.features.Tensor` (the image is not
PNG-encoded), so preparing and reading need numpy only, not TensorFlow. Vertices (13,718 x 3
floats per sample with the bundled body) are stored only by configs with `with_vertices`; they are
always `body.forward(pose, betas).vertices` minus the pelvis joint, so they can be recomputed.

Fields: image (S, S, 3) uint8; keypoints (49, 3) SPIN-49 [-1, 1] + visibility; pose (24, 3)
axis-angle; rotmats (24, 3, 3); betas (10,); camera (3,) [s, tx, ty]; joints (24, 3) and
joints3d_spin49 (49, 3) root-relative metres in the camera frame; frame (index into
`load_mocap_poses()`, -1 for a random pose), mirrored, seed; vertices (V, 3) with
`with_vertices`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import shuffle as tfds_shuffle

from eft_jax.datasets.pose_sampling import POSE_SOURCES
from eft_jax.datasets.synthetic import STYLES, make_sample

VALIDATION_SEED_OFFSET = 10_000_000
STYLE_VERSIONS = {"basic": "1.0.0", "lifelike": "2.0.0", "full_frame": "3.0.0"}


@dataclasses.dataclass
class SyntheticHumansConfig(tfds.core.BuilderConfig):
    image_size: int = 128
    num_train: int = 40_000
    num_validation: int = 1_000
    with_vertices: bool = False
    style: str = "basic"


def split_seeds(config: SyntheticHumansConfig, split: str) -> range:
    if split == "train":
        return range(config.num_train)
    if split == "validation":
        return range(VALIDATION_SEED_OFFSET, VALIDATION_SEED_OFFSET + config.num_validation)
    raise ValueError(f"unknown split {split!r}; SyntheticHumans has 'train' and 'validation'")


def builder_for(
    crop_size: int, num_train: int, num_validation: int, data_dir=None, style: str = "basic"
) -> SyntheticHumans:
    """The builder of that size and style: a named config ("128px", "lifelike_128px", ...) when
    one matches, otherwise a custom config named after its style and sizes (prepared under its
    own directory)."""
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; known: {', '.join(STYLES)}")
    wanted = (crop_size, num_train, num_validation, style)
    for preset in SyntheticHumans.BUILDER_CONFIGS:
        if (preset.image_size, preset.num_train, preset.num_validation, preset.style) == wanted:
            return SyntheticHumans(config=preset.name, data_dir=data_dir)
    prefix = "" if style == "basic" else f"{style}_"
    custom = SyntheticHumansConfig(
        name=f"{prefix}{crop_size}px_{num_train}_{num_validation}",
        image_size=crop_size,
        num_train=num_train,
        num_validation=num_validation,
        style=style,
        version=STYLE_VERSIONS[style],
    )
    return SyntheticHumans(config=custom, data_dir=data_dir)


class SyntheticHumans(tfds.core.GeneratorBasedBuilder):
    """Synthetic humans rendered from the bundled open body model in retargeted mocap poses."""

    VERSION = tfds.core.Version("1.0.0")
    SUPPORTED_VERSIONS = [tfds.core.Version("2.0.0"), tfds.core.Version("3.0.0")]
    RELEASE_NOTES = {
        "1.0.0": "First release: bundled open body, 10 mocap clips, SPIN-49 keypoints.",
        "2.0.0": "The lifelike style: clothes, backgrounds, lights, more poses, truncation, JPEG.",
        "3.0.0": "The full_frame style: lifelike people in whole frames through pinhole cameras.",
    }
    BUILDER_CONFIGS = [
        SyntheticHumansConfig(
            name="128px", description="128 x 128 crops (the bundled regressor's input)"
        ),
        SyntheticHumansConfig(
            name="224px", description="224 x 224 crops (SPIN's input size)", image_size=224
        ),
        SyntheticHumansConfig(
            name="lifelike_128px",
            description="128 x 128 crops, lifelike style",
            style="lifelike",
            version=STYLE_VERSIONS["lifelike"],
        ),
        SyntheticHumansConfig(
            name="lifelike_224px",
            description="224 x 224 crops, lifelike style",
            image_size=224,
            style="lifelike",
            version=STYLE_VERSIONS["lifelike"],
        ),
        SyntheticHumansConfig(
            name="full_frame_128px",
            description="128 x 128 crops of whole 640 x 480 or 1280 x 720 frames, full_frame style",
            style="full_frame",
            version=STYLE_VERSIONS["full_frame"],
        ),
        SyntheticHumansConfig(
            name="full_frame_224px",
            description="224 x 224 crops of whole 640 x 480 or 1280 x 720 frames, full_frame style",
            image_size=224,
            style="full_frame",
            version=STYLE_VERSIONS["full_frame"],
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "128px"

    # Nothing is downloaded, so there is no checksums file to look for. (tfds's own lookup walks
    # the package with `importlib_resources`, which tfds does not install.)
    @tfds.core.utils.classproperty
    @classmethod
    def _checksums_path(cls):
        return None

    # tfds prints "Downloading and preparing dataset ..." and "... downloaded and prepared" to
    # stdout; nothing is downloaded here, and the job that prepares the data says what it does.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass

    def __init__(self, *, file_format: str = "array_record", **kwargs):
        super().__init__(file_format=file_format, **kwargs)

    def download_and_prepare(self, *args, **kwargs):
        """As tfds's, with the writer's in-memory buffer large enough for a whole split: past
        its 1 GB default tfds spills to disk through `tf.io.gfile`, that is, it needs TensorFlow,
        which eft-jax does not install. A split takes about (S^2 * 3 + 2 KB) bytes per sample
        (2 GB for the 40k samples of "128px") while it is written."""
        config = self.builder_config
        per_sample = config.image_size**2 * 3 + 4096 + (13_718 * 12 if config.with_vertices else 0)
        needed = max(config.num_train, config.num_validation) * per_sample
        saved = tfds_shuffle.MAX_MEM_BUFFER_SIZE
        tfds_shuffle.MAX_MEM_BUFFER_SIZE = max(saved, 2 * needed)
        try:
            return super().download_and_prepare(*args, **kwargs)
        finally:
            tfds_shuffle.MAX_MEM_BUFFER_SIZE = saved

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        features = {
            "image": tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8),
            "keypoints": tfds.features.Tensor(shape=(49, 3), dtype=np.float32),
            "pose": tfds.features.Tensor(shape=(24, 3), dtype=np.float32),
            "rotmats": tfds.features.Tensor(shape=(24, 3, 3), dtype=np.float32),
            "betas": tfds.features.Tensor(shape=(10,), dtype=np.float32),
            "camera": tfds.features.Tensor(shape=(3,), dtype=np.float32),
            "joints": tfds.features.Tensor(shape=(24, 3), dtype=np.float32),
            "joints3d_spin49": tfds.features.Tensor(shape=(49, 3), dtype=np.float32),
            "frame": tfds.features.Scalar(dtype=np.int32),
            "mirrored": tfds.features.Scalar(dtype=np.bool_),
            "seed": tfds.features.Scalar(dtype=np.int64),
        }
        if self.builder_config.style == "lifelike":
            features["pose_source"] = tfds.features.Scalar(dtype=np.int32)
            features["truncated"] = tfds.features.Scalar(dtype=np.bool_)
            features["clip"] = tfds.features.Text()
        if self.builder_config.style == "full_frame":
            features["pose_source"] = tfds.features.Scalar(dtype=np.int32)
            features["clip"] = tfds.features.Text()
            features["translation"] = tfds.features.Tensor(shape=(3,), dtype=np.float32)
            features["focal_px"] = tfds.features.Scalar(dtype=np.float32)
            features["principal_px"] = tfds.features.Tensor(shape=(2,), dtype=np.float32)
            features["image_size"] = tfds.features.Tensor(shape=(2,), dtype=np.int32)
            features["box_center"] = tfds.features.Tensor(shape=(2,), dtype=np.float32)
            features["box_scale"] = tfds.features.Scalar(dtype=np.float32)
            features["keypoints_frame"] = tfds.features.Tensor(shape=(49, 3), dtype=np.float32)
        if self.builder_config.with_vertices:
            features["vertices"] = tfds.features.Tensor(shape=(None, 3), dtype=np.float32)
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(features),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: every sample is rendered from its seed
        return {split: self._generate_examples(split) for split in ("train", "validation")}

    def _generate_examples(self, split: str):
        config = self.builder_config
        keys = self.info.features.keys()
        for seed in split_seeds(config, split):
            sample = make_sample(
                seed,
                style=config.style,
                crop_size=config.image_size,
                with_vertices=config.with_vertices,
            )
            if "pose_source" in sample:
                sample["pose_source"] = POSE_SOURCES.index(sample["pose_source"])
            yield seed, {key: sample[key] for key in keys}
