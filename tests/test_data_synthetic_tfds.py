"""The SyntheticHumans tensorflow-datasets builder: prepared without TensorFlow, records equal to
`make_sample` of their seeds, disjoint train / validation seeds, a config and version per style."""

import numpy as np
import pytest

from eft_jax.datasets.pose_sampling import POSE_SOURCES
from eft_jax.datasets.synthetic import make_sample
from eft_jax.datasets.synthetic_tfds import (
    VALIDATION_SEED_OFFSET,
    SyntheticHumans,
    SyntheticHumansConfig,
    builder_for,
    split_seeds,
)


@pytest.fixture(scope="module")
def builder(tmp_path_factory):
    config = SyntheticHumansConfig(
        name="tiny", image_size=32, num_train=3, num_validation=2, with_vertices=True
    )
    builder = SyntheticHumans(config=config, data_dir=str(tmp_path_factory.mktemp("tfds")))
    builder.download_and_prepare()
    return builder


def test_records_are_the_samples_of_their_seeds(builder):
    for split, offset, count in (("train", 0, 3), ("validation", VALIDATION_SEED_OFFSET, 2)):
        source = builder.as_data_source(split)
        assert len(source) == count
        for index in range(len(source)):
            record = source[index]
            expected = make_sample(offset + index, crop_size=32, with_vertices=True)
            assert int(record["seed"]) == offset + index
            for key, value in record.items():
                np.testing.assert_array_equal(
                    np.asarray(value), np.asarray(expected[key]), err_msg=key
                )


def test_record_fields(builder):
    record = builder.as_data_source("train")[0]
    assert record["image"].shape == (32, 32, 3) and record["image"].dtype == np.uint8
    assert record["keypoints"].shape == (49, 3) and record["rotmats"].shape == (24, 3, 3)
    assert record["vertices"].shape[1] == 3


def test_splits_never_share_a_seed():
    config = SyntheticHumansConfig(name="x", num_train=VALIDATION_SEED_OFFSET, num_validation=5)
    train, validation = split_seeds(config, "train"), split_seeds(config, "validation")
    assert train.stop <= validation.start
    with pytest.raises(ValueError, match="unknown split"):
        split_seeds(config, "test")


def test_builder_for_uses_presets_and_names_custom_sizes(tmp_path):
    assert builder_for(128, 40_000, 1_000, str(tmp_path)).builder_config.name == "128px"
    custom = builder_for(64, 100, 10, str(tmp_path)).builder_config
    assert (custom.name, custom.image_size, custom.num_train, custom.num_validation) == (
        "64px_100_10",
        64,
        100,
        10,
    )


@pytest.fixture(scope="module")
def lifelike_builder(tmp_path_factory):
    builder = builder_for(32, 2, 1, str(tmp_path_factory.mktemp("tfds")), style="lifelike")
    builder.download_and_prepare()
    return builder


def test_lifelike_builder_renders_the_lifelike_samples(lifelike_builder):
    config = lifelike_builder.builder_config
    assert config.style == "lifelike" and str(lifelike_builder.version) == "2.0.0"
    assert "lifelike" in config.name
    for split, offset, count in (("train", 0, 2), ("validation", VALIDATION_SEED_OFFSET, 1)):
        source = lifelike_builder.as_data_source(split)
        assert len(source) == count
        for index in range(count):
            record = source[index]
            expected = make_sample(offset + index, style="lifelike", crop_size=32)
            for key in (
                "image",
                "keypoints",
                "rotmats",
                "betas",
                "camera",
                "frame",
                "mirrored",
                "truncated",
            ):
                np.testing.assert_array_equal(
                    np.asarray(record[key]), np.asarray(expected[key]), err_msg=key
                )
            assert POSE_SOURCES[int(record["pose_source"])] == expected["pose_source"]
            clip = record["clip"]
            assert (clip.decode() if isinstance(clip, bytes) else clip) == expected["clip"]


def test_styles_get_their_own_configs_and_versions(tmp_path):
    basic = builder_for(128, 40_000, 1_000, str(tmp_path))
    lifelike = builder_for(128, 40_000, 1_000, str(tmp_path), style="lifelike")
    assert (basic.builder_config.name, str(basic.version)) == ("128px", "1.0.0")
    assert (lifelike.builder_config.name, str(lifelike.version)) == ("lifelike_128px", "2.0.0")
    assert basic.data_dir != lifelike.data_dir
    assert "pose_source" not in basic.info.features and "pose_source" in lifelike.info.features
    custom = builder_for(64, 100, 10, str(tmp_path), style="lifelike").builder_config
    assert custom.name == "lifelike_64px_100_10" and custom.style == "lifelike"
    with pytest.raises(ValueError, match="unknown synthetic style"):
        builder_for(128, 10, 10, str(tmp_path), style="cartoon")
