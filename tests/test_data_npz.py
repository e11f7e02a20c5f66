import numpy as np
import pytest

from eft_jax.formats.exemplar import Skip, exemplar_problem
from eft_jax.formats.exemplar_npz import (
    ExemplarFileError,
    iter_exemplars_npz,
    read_exemplars_npz,
    write_exemplars_npz,
)
from eft_jax.geometry import crops

pytestmark = pytest.mark.fast_compiles


def _keypoints(n):
    keypoints = np.zeros((n, 49, 3), np.float32)
    keypoints[:, 25:, :2] = np.random.default_rng(0).uniform(-0.8, 0.8, (n, 24, 2))
    keypoints[:, 25:37, 2] = 1
    return keypoints


def test_uint8_round_trip_and_normalisation(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    keypoints = _keypoints(3)
    keypoints[1, 30] = [np.nan, np.nan, 1]  # NaN on a joint with confidence: the engine's check
    keypoints[2, :, 2] = 0  # no keypoint at all
    path = write_exemplars_npz(
        tmp_path / "crops.data",  # any suffix: written as named
        images,
        keypoints,
        ids=["a", "b", "c"],
        center=[[100, 50], [10, 10], [np.nan, 0]],  # no usable box: skipped by the reader
        scale=[1.0, 2.0, 0.5],
        image_names=["x.jpg", "y.jpg", "z.jpg"],
        annot_ids=[5, 6, 7],
    )
    assert path.name == "crops.data"
    arrays = read_exemplars_npz(path)
    np.testing.assert_array_equal(arrays["images"], images)
    assert arrays["ids"].tolist() == ["a", "b", "c"]
    items = list(iter_exemplars_npz(path))
    assert [item.id for item in items[:2]] == ["a", "b"]
    first = items[0]
    np.testing.assert_allclose(first.image, crops.normalize_image(images[0]), atol=1e-6)
    assert first.image.dtype == np.float32 and first.annot_id == 5 and first.image_name == "x.jpg"
    np.testing.assert_allclose(first.center, [100, 50])
    assert first.scale == 1.0
    # the data checks run once, in the engine (`checked_inputs` calls exemplar_problem)
    problem = exemplar_problem(items[1].image, items[1].keypoints)
    assert "NaN" in problem and "30" in problem
    assert isinstance(items[2], Skip) and "invalid box" in items[2].reason
    assert items[2].annot_id == 7 and items[2].image_name == "z.jpg"


def test_float_images_are_taken_as_normalised_and_defaults(tmp_path):
    images = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype(np.float32)
    path = write_exemplars_npz(tmp_path / "f.npz", images, _keypoints(2))
    items = list(iter_exemplars_npz(path))
    np.testing.assert_array_equal(items[1].image, images[1])
    assert items[1].id == "000001" and items[1].annot_id == 0 and items[1].image_name == ""
    # without a box the crop is its own image: a keypoint at crop pixel centre (0, 0) maps to
    # the normalised position of that pixel's centre
    center, scale = items[0].box()
    np.testing.assert_allclose(center, [3.5, 3.5])
    assert scale == pytest.approx(8 / 200)
    n = crops.image_to_crop(np.array([[0.0, 0.0]]), center, scale)[0]
    np.testing.assert_allclose(n, [2 * 0.5 / 8 - 1] * 2)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"images": np.zeros((2, 8, 9, 3), np.uint8)}, r"'images' must be \(N, res, res, 3\)"),
        ({"images": np.zeros((2, 8, 8, 3), np.int32)}, "must be uint8"),
        (
            {"keypoints": np.zeros((2, 24, 3), np.float32)},
            r"'keypoints' must be float \(2, 49, 3\)",
        ),
        ({"ids": ["a", "a"]}, "not unique"),
        ({"center": np.zeros((2, 2))}, "'center' and 'scale' go together"),
        ({"scale": np.zeros(3), "center": np.zeros((2, 2))}, r"'scale' must have shape \(2,\)"),
        ({"annot_ids": np.zeros(2)}, "'annot_ids' must be integers"),
    ],
)
def test_write_validation(tmp_path, change, message):
    arguments = {"images": np.zeros((2, 8, 8, 3), np.uint8), "keypoints": _keypoints(2)}
    arguments.update(change)
    with pytest.raises(ExemplarFileError, match=message):
        write_exemplars_npz(tmp_path / "x.npz", **arguments)


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ExemplarFileError, match="no such exemplar file"):
        read_exemplars_npz(tmp_path / "none.npz")
    np.savez(tmp_path / "missing.npz", images=np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(ExemplarFileError, match=r"missing.npz: missing 'keypoints'"):
        read_exemplars_npz(tmp_path / "missing.npz")
    np.savez(
        tmp_path / "objects.npz",
        images=np.zeros((1, 4, 4, 3), np.uint8),
        keypoints=_keypoints(1),
        ids=np.array([{"a": 1}], dtype=object),
    )
    with pytest.raises(ExemplarFileError, match="objects.npz: cannot read without pickle"):
        read_exemplars_npz(tmp_path / "objects.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ExemplarFileError, match="junk.npz: not a readable .npz"):
        read_exemplars_npz(tmp_path / "junk.npz")


def test_exemplar_problem():
    image = np.zeros((4, 4, 3), np.float32)
    keypoints = _keypoints(1)[0]
    assert exemplar_problem(image, keypoints) is None
    assert "NaN or infinite values" in exemplar_problem(np.full((4, 4, 3), np.nan), keypoints)
    bad = keypoints.copy()
    bad[0] = [np.nan, 0, 0]  # NaN on a joint without confidence is fine
    assert exemplar_problem(image, bad) is None
    bad[1, 2] = -1
    assert "negative" in exemplar_problem(image, bad)
    assert "shape" in exemplar_problem(image, keypoints[:24])
