"""Readers -> TFDS (array_record, no TensorFlow) -> crops: the prepared records are the reader's
exemplars, in order, and per-process splits cover every record once."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_builders import make_coco, make_lspet

from eft_jax.datasets.people import iter_exemplars
from eft_jax.datasets.people_tfds import (
    builder_for,
    decode_jpeg,
    encode_jpeg,
    process_share,
    record_exemplar,
)
from eft_jax.datasets.registry import open_dataset
from eft_jax.formats.exemplar import Skip
from eft_jax.geometry.crops import denormalize_image, normalize_image

pytestmark = pytest.mark.fast_compiles


@pytest.mark.parametrize(
    "dataset, split, make", [("coco", "val2017", make_coco), ("lspet", None, make_lspet)]
)
def test_prepared_records_are_the_readers_exemplars(tmp_path, dataset, split, make):
    root = tmp_path / "root"
    make(root, split) if split else make(root)
    builder = builder_for(dataset, root, split=split, crop_size=32, data_dir=tmp_path / "tfds")
    builder.download_and_prepare()
    source = builder.as_data_source("train")
    every = list(iter_exemplars(*_source(open_dataset(dataset, root, split)), crop_size=32))
    # every person, skipped ones too (COCO: a crowd, a missing image, one that cannot be
    # decoded, ...), as the reader's records, with their reasons
    assert len(source) == len(every)
    assert [record_exemplar(r) for r in source if len(r["skip_reason"])] == [
        item for item in every if isinstance(item, Skip)
    ]
    assert any("cannot decode" in i.reason for i in every if isinstance(i, Skip)) == (
        dataset == "coco"
    )
    assert not all(isinstance(item, Skip) for item in every)
    for index, expected in enumerate(every):
        if isinstance(expected, Skip):
            continue
        exemplar = record_exemplar(source[index])
        assert exemplar.id == expected.id and exemplar.image_name == expected.image_name
        np.testing.assert_array_equal(exemplar.keypoints, expected.keypoints)
        # the box exactly (stored as float64: a float32 scale 0.48 would read back 0.4799999893)
        np.testing.assert_array_equal(exemplar.center, expected.center)
        assert exemplar.scale == expected.scale
        # the crop went through JPEG once: the same as encoding the reader's crop here
        jpeg = normalize_image(decode_jpeg(encode_jpeg(denormalize_image(expected.image))))
        np.testing.assert_array_equal(exemplar.image, jpeg)
    shares = [process_share(builder, i, 2) for i in range(2)]
    ids = [record_exemplar(share[i]).id for share in shares for i in range(len(share))]
    assert ids == [e.id for e in every]  # contiguous shares, every record once, in order


def _source(source):
    return source.items, source.images_dir


def test_two_roots_prepared_into_one_data_folder_keep_their_own_records(tmp_path):
    make_lspet(tmp_path / "first", count=3)
    make_lspet(tmp_path / "second", count=2)
    first = builder_for("lspet", tmp_path / "first", crop_size=32, data_dir=tmp_path / "tfds")
    first.download_and_prepare()
    second = builder_for("lspet", tmp_path / "second", crop_size=32, data_dir=tmp_path / "tfds")
    second.download_and_prepare()
    assert first.data_dir != second.data_dir
    assert len(first.as_data_source("train")) == 3
    assert len(second.as_data_source("train")) == 2  # not the first root's records
    # the same root, however spelled, is the same config
    again = builder_for(
        "lspet", tmp_path / "second" / ".." / "second", crop_size=32, data_dir=tmp_path / "tfds"
    )
    assert again.builder_config.name == second.builder_config.name


def test_more_processes_than_records_leaves_the_extra_ones_nothing_to_do(tmp_path, capsys):
    make_lspet(tmp_path / "root", count=2)
    builder = builder_for("lspet", tmp_path / "root", crop_size=32, data_dir=tmp_path / "tfds")
    builder.download_and_prepare()
    capsys.readouterr()
    shares = [process_share(builder, i, 3) for i in range(3)]
    assert [len(share) for share in shares] == [1, 1, 0]
    assert "process 2 of 3: no records to read (train has 2)" in capsys.readouterr().err
    ids = [record_exemplar(share[i]).id for share in shares for i in range(len(share))]
    assert ids == ["im00001", "im00002"]
