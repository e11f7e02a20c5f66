import numpy as np
import pytest

from eft_jax.formats.images import ImageReadError, load_rgb, save_png

pytestmark = pytest.mark.fast_compiles

PIL = pytest.importorskip("PIL.Image")


def test_png_round_trip_and_float_input(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = save_png(tmp_path / "sub" / "a.png", image)
    np.testing.assert_array_equal(load_rgb(path), image)
    save_png(tmp_path / "b.png", np.full((4, 5), 0.5))
    grey = load_rgb(tmp_path / "b.png")
    assert grey.shape == (4, 5, 3) and np.all(grey == 128)
    with pytest.raises(ValueError, match="NaN"):
        save_png(tmp_path / "c.png", np.full((2, 2, 3), np.nan))


def test_modes_are_converted_to_rgb(tmp_path):
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    PIL.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_rgb(tmp_path / "rgba.png").shape == (3, 4, 3)
    PIL.fromarray(np.full((3, 4), 65535, np.uint16)).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(load_rgb(tmp_path / "deep.png"), 255)


def test_exif_orientation_is_applied(tmp_path):
    image = np.zeros((2, 6, 3), np.uint8)  # wide
    pil = PIL.fromarray(image)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    pil.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg").shape == (6, 2, 3)
    assert load_rgb(tmp_path / "rotated.jpg", apply_exif_orientation=False).shape == (2, 6, 3)


def test_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="no such image file"):
        load_rgb(tmp_path / "missing.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="junk.jpg: cannot decode image"):
        load_rgb(tmp_path / "junk.jpg")
    with pytest.raises(ImageReadError, match="is not a file"):
        load_rgb(tmp_path)
