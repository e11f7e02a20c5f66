import numpy as np
import pytest

from eft_jax.geometry import crops


def test_crop_transform_matches_spin_get_transform_without_rounding():
    # SPIN get_transform: t = [[res/h, 0, res*(-cx/h + .5)], [0, res/h, res*(-cy/h + .5)], [0, 0, 1]]
    center, scale, res = (310.0, 120.0), 1.7, 224
    h = 200 * scale
    expected = np.array(
        [
            [res / h, 0, res * (-center[0] / h + 0.5)],
            [0, res / h, res * (-center[1] / h + 0.5)],
            [0, 0, 1],
        ]
    )
    np.testing.assert_allclose(crops.crop_transform(center, scale, res), expected, atol=1e-12)
    # j2d_processing: normalised = 2 * u / res - 1, which image_to_crop gives directly.
    point = np.array([[[355.25, 80.5, 1.0]]])
    u = expected @ np.array([355.25, 80.5, 1.0])
    normalised = crops.image_to_crop(point, np.array([center]), np.array([scale]))
    np.testing.assert_allclose(normalised[0, 0, :2], 2 * u[:2] / res - 1, atol=1e-12)
    assert normalised[0, 0, 2] == 1.0


@pytest.mark.parametrize("rotation", [0.0, 23.0])
def test_keypoint_round_trip_image_crop_image(rotation):
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.uniform(-50, 900, (4, 49, 2)), rng.uniform(0, 1, (4, 49, 1))], -1)
    center = rng.uniform(100, 700, (4, 2))
    scale = rng.uniform(0.3, 4.0, 4)
    normalised = crops.image_to_crop(points, center, scale, rotation)
    back = crops.crop_to_image(normalised, center, scale, rotation)
    np.testing.assert_allclose(back, points, atol=1e-4)
    np.testing.assert_array_equal(normalised[..., 2], points[..., 2])
    # the box corners land on the crop's corners
    corners = crops.box_corners(center[0], scale[0])
    mapped = crops.image_to_crop(np.array([[corners[:2], corners[2:]]]), center[0], scale[0])
    np.testing.assert_allclose(mapped[0], [[-1, -1], [1, 1]], atol=1e-12)


def _square_image():
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:90, 100:140] = (255, 128, 0)  # rows 50..89, columns 100..139
    return image


def test_known_square_lands_where_expected():
    # Box of side 80 centred on the square's centre (pixel-index convention: (119.5, 69.5)):
    # the 40-pixel square fills the middle half of the crop, crop pixels 56..167.
    crop = crops.crop_image(_square_image(), (119.5, 69.5), 80 / 200, crop_size=224)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.float32
    red = crop[..., 0]
    inside = red[58:166, 58:166]
    np.testing.assert_allclose(inside, 255.0, atol=1e-3)
    np.testing.assert_allclose(crop[58:166, 58:166, 1], 128.0, atol=1e-3)
    assert red[:54].max() == 0 and red[170:].max() == 0
    assert red[:, :54].max() == 0 and red[:, 170:].max() == 0
    columns = np.flatnonzero(red[112] > 127.5)
    assert (columns[0], columns[-1]) == (56, 167)
    # the square's corner pixel (100, 50) maps onto the square's corner in the crop
    corner = crops.image_to_crop(np.array([[100.0, 50.0]]), (119.5, 69.5), 0.4)[0]
    u = (corner + 1) * 112
    assert 56 <= u[0] <= 59 and 56 <= u[1] <= 59


def test_shifted_box_moves_the_square():
    image = _square_image()
    crop = crops.crop_image(image, (119.5 + 20, 69.5), 0.4, crop_size=224)  # box 20 px to the right
    columns = np.flatnonzero(crop[112, :, 0] > 127.5)
    assert (columns[0], columns[-1]) == (0, 111)


def test_out_of_image_region_is_zero_padded():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = crops.crop_image(image, (0.0, 0.0), 100 / 200, crop_size=64)  # box centred on the corner
    assert crop[:30, :].max() == 0 and crop[:, :30].max() == 0  # outside: zeros
    np.testing.assert_allclose(crop[34:, 34:], 200.0, atol=1e-3)  # inside: the image
    normalised = crops.normalize_image(crop)
    np.testing.assert_allclose(
        normalised[0, 0], -crops.IMG_NORM_MEAN / crops.IMG_NORM_STD, rtol=1e-6
    )
    # a box entirely off the image gives an all-zero crop
    assert crops.crop_image(image, (-500.0, -500.0), 1.0, crop_size=32).max() == 0


def test_antialiasing_averages_a_downscaled_checkerboard():
    checker = ((np.indices((900, 900)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, -1)
    # centre (450, 450): plain bilinear samples hit pixel centres, so they alias fully
    smooth = crops.crop_image(checker, (450.0, 450.0), 4.0, crop_size=100)  # 8x downscale
    np.testing.assert_allclose(smooth, 127.5, atol=1.0)
    aliased = crops.crop_image(checker, (450.0, 450.0), 4.0, crop_size=100, antialias=False)
    assert np.abs(aliased - 127.5).max() > 60


def test_deterministic_and_normalisation_round_trip():
    image = np.random.default_rng(2).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    a = crops.crop_image(image, (60, 40), 0.5, crop_size=32, rotation_deg=10)
    b = crops.crop_image(image, (60, 40), 0.5, crop_size=32, rotation_deg=10)
    np.testing.assert_array_equal(a, b)
    rgb = np.random.default_rng(3).integers(0, 256, (5, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(crops.denormalize_image(crops.normalize_image(rgb)), rgb)


def test_identity_crop_reproduces_the_image():
    # A box covering exactly a 32x32 image at res 32 reproduces it pixel for pixel.
    image = np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    crop = crops.crop_image(image, (15.5, 15.5), 32 / 200, crop_size=32)
    np.testing.assert_allclose(crop, image, atol=1e-3)


def test_boxes():
    center, scale = crops.box_from_xywh([10, 20, 100, 50])
    np.testing.assert_allclose(center, [60, 45])
    assert scale == pytest.approx(1.2 * 100 / 200)
    keypoints = np.array([[10, 10, 1], [110, 50, 1], [500, 500, 0], [30, 30, 0.5]], float)
    center, scale = crops.box_from_keypoints(keypoints)
    np.testing.assert_allclose(center, [60, 30])
    assert scale == pytest.approx(1.2 * 100 / 200)
    center, _ = crops.box_from_keypoints(keypoints, center="mean")
    np.testing.assert_allclose(center, [50, 30])
    with pytest.raises(ValueError, match="at least 2"):
        crops.box_from_keypoints(keypoints, min_confidence=1.0)
    with pytest.raises(ValueError, match="no area"):
        crops.box_from_xywh([0, 0, 0, 10])
    with pytest.raises(ValueError, match="non-finite"):
        crops.box_from_keypoints(np.array([[np.nan, 1, 1], [2, 2, 1]]))


def test_crop_exemplar_keypoints_and_invalid_scale():
    image = _square_image()
    keypoints = np.zeros((49, 3))
    keypoints[25] = [119.5, 69.5, 1]
    keypoints[26] = [np.nan, np.nan, 0]  # missing joint with NaN coordinates
    crop, mapped = crops.crop_exemplar(image, keypoints, (119.5, 69.5), 0.4)
    assert crop.shape == (224, 224, 3) and mapped.dtype == np.float32
    np.testing.assert_allclose(mapped[25], [0, 0, 1], atol=1e-6)
    np.testing.assert_array_equal(mapped[26], [0, 0, 0])
    with pytest.raises(ValueError, match="positive"):
        crops.image_to_crop(keypoints, (0, 0), 0.0)
    with pytest.raises(ValueError, match="invalid crop box"):
        crops.crop_image(image, (np.nan, 0), 1.0)


@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0])
def test_rotated_crop_shows_the_image_where_keypoints_map(rotation):
    image = np.zeros((300, 400, 3), np.uint8)
    image[96:105, 246:255] = 255  # a white 9x9 marker centred on (250, 100)
    center, scale = (200.0, 150.0), 1.2
    crop = crops.crop_image(image, center, scale, crop_size=96, rotation_deg=rotation)
    n = crops.image_to_crop(np.array([[250.0, 100.0]]), center, scale, rotation)[0]
    col, row = ((n + 1) * 48).astype(int)
    assert crop[row, col, 0] > 200
    weights = crop[..., 0] / crop[..., 0].sum()
    centroid = np.array(
        [
            (weights.sum(0) * (np.arange(96) + 0.5)).sum(),
            (weights.sum(1) * (np.arange(96) + 0.5)).sum(),
        ]
    )
    np.testing.assert_allclose(centroid, (n + 1) * 48, atol=0.3)


def test_antialiased_crop_is_the_block_mean_of_the_zero_padded_image():
    # Box of 128 px at res 32 (k = 4) centred on a 64 x 64 image: each crop pixel is exactly the
    # mean of a 4 x 4 block of the image padded with zeros (32 px of padding on each side).
    image = np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    padded = np.zeros((128, 128, 3))
    padded[32:96, 32:96] = image
    expected = padded.reshape(32, 4, 32, 4, 3).mean(axis=(1, 3))
    crop = crops.crop_image(image, (31.5, 31.5), 128 / 200, crop_size=32)
    np.testing.assert_allclose(crop, expected, atol=1e-3)


def test_huge_box_costs_nothing_extra():
    image = np.full((100, 100, 3), 255, np.uint8)
    crop = crops.crop_image(image, (50.0, 50.0), 1e5, crop_size=32)  # a 2e7 px box
    assert crop.shape == (32, 32, 3) and crop.max() < 1.0
