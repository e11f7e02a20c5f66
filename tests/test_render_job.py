"""`eft-jax render` job: [crop | overlay | side view] PNGs and OBJ meshes from an EFT JSON,
missing images skipped with a reason, and fits never drawn with another body model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from random_smpl_model import make_random_smpl, write_npz

from eft_jax import body
from eft_jax.eval.pictures import RenderInputError, draw_fits, output_stem
from eft_jax.formats.images import load_rgb, save_png
from eft_jax.formats.obj_file import read_obj
from eft_jax.geometry.crops import crop_image

pytestmark = pytest.mark.fast_compiles

CROP = 96
CENTER = (200.0, 130.0)  # the person's position in the synthetic image
SCALE = 1.1  # box side 220 px


def upright_rotmats():
    rotmats = np.tile(np.eye(3), (24, 1, 1))
    rotmats[0] = np.diag([1.0, -1.0, -1.0])  # pi about x: head at -y, i.e. up in the image
    return rotmats


def entry(image_name, annot_id, smpltype="eftjax_open", exemplar_id=""):
    return {
        "parm_pose": upright_rotmats().tolist(),
        "parm_shape": [0.0] * 10,
        "parm_cam": [0.9, 0.0, 0.0],
        "bbox_scale": SCALE,
        "bbox_center": list(CENTER),
        "gt_keypoint_2d": np.zeros((49, 3)).tolist(),
        "joint_validity_openpose18": [0.0] * 18,
        "smpltype": smpltype,
        "annotId": annot_id,
        "imageName": image_name,
        "exemplar_id": exemplar_id,
    }


def write_fits(path, entries):
    path.write_text(
        json.dumps(
            {
                "ver": 0.1,
                "data": entries,
                "meta": {},
                "skipped": [
                    {
                        "id": "x",
                        "skip_reason": "too few keypoints",
                        "annotId": 9,
                        "imageName": "gone.jpg",
                    }
                ],
            }
        )
    )
    return path


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    h, w = 260, 360
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 60)], -1).astype(np.uint8)
    save_png(folder / "street.png", image)
    return folder


def test_render_writes_panels_meshes_and_skips_missing_images(tmp_path, images, capsys):
    fits = write_fits(
        tmp_path / "fits.json",
        [
            entry("street.png", 1234),
            entry("missing.jpg", 5),
            entry("street.png", 0, exemplar_id="ex/7"),
        ],
    )
    out = tmp_path / "out"
    result = draw_fits(fits, images, out, crop_size=CROP)

    assert [p.name for p in result] == ["street_1234.png", "street_ex_7.png"]
    assert [p.name for p in result.meshes] == ["street_1234.obj", "street_ex_7.obj"]
    assert len(result.skipped) == 1
    skip = result.skipped[0]
    assert skip["imageName"] == "missing.jpg" and skip["index"] == 1
    assert "no such image file" in skip["reason"]
    assert "skipped data[1] (missing.jpg)" in capsys.readouterr().err  # a warning
    assert "2 fits drawn, 1 skipped" in result.summary_line

    picture = load_rgb(result[0])
    assert picture.shape == (CROP, 3 * CROP, 3)
    crop, drawn, side = picture[:, :CROP], picture[:, CROP : 2 * CROP], picture[:, 2 * CROP :]
    expected_crop = crop_image(load_rgb(images / "street.png"), CENTER, SCALE, CROP)
    np.testing.assert_array_equal(crop, np.clip(np.round(expected_crop), 0, 255).astype(np.uint8))

    changed = np.any(drawn != crop, axis=-1)
    c = CROP // 2
    assert changed[c - 4 : c + 4, c - 4 : c + 4].all()  # the body covers the centre (the person)
    for corner in (changed[:8, :8], changed[:8, -8:], changed[-8:, :8], changed[-8:, -8:]):
        assert not corner.any()  # far from the body the crop shows through untouched
    # Upright: the body spans most of the height (head near the top, feet near the bottom) and
    # is centred left-right.
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    assert rows[0] < 0.2 * CROP and rows[-1] > 0.8 * CROP
    assert abs((cols[0] + cols[-1]) / 2 - c) < 0.08 * CROP
    # The side view: a body on a plain background, narrower than the T-posed front view.
    side_body = np.any(side != 255, axis=-1)
    assert side_body[c - 4 : c + 4, c - 4 : c + 4].any() and not side_body[:8, :8].any()
    side_cols = np.flatnonzero(side_body.any(axis=0))
    assert side_cols[-1] - side_cols[0] < 0.6 * (cols[-1] - cols[0])

    model = body.load()
    vertices, faces = read_obj(result.meshes[0])
    assert vertices.shape == (model.num_vertices, 3)
    assert faces.shape == np.asarray(model.faces).shape
    posed = body.forward(model, upright_rotmats(), np.zeros(10))
    # Exported y up: the image-upright fit turned by pi about x, so the head is above the feet.
    np.testing.assert_allclose(vertices, np.asarray(posed.vertices) * [1, -1, -1], atol=2e-6)
    head, pelvis = np.asarray(posed.joints)[[15, 0]] * [1, -1, -1]
    assert head[1] > pelvis[1] + 0.3


def test_limit_and_output_names(tmp_path, images):
    fits = write_fits(tmp_path / "fits.json", [entry("missing.jpg", 1), entry("street.png", 2)])
    result = draw_fits(fits, images, tmp_path / "out", limit=1, crop_size=16)
    assert list(result) == [] and len(result.skipped) == 1
    assert output_stem({"imageName": "a/b c.jpg", "annotId": 0}, 3) == "b_c_3"
    assert output_stem({"imageName": "synthetic_7.png", "exemplar_id": "synthetic_7"}, 0) == (
        "synthetic_7"
    )


def test_fits_are_drawn_only_with_their_body_model(tmp_path, images):
    smpl_fits = write_fits(tmp_path / "smpl.json", [entry("street.png", 1, smpltype="smpl")])
    with pytest.raises(RenderInputError, match="made with the SMPL model"):
        draw_fits(smpl_fits, images, tmp_path / "out", crop_size=CROP)

    smpl_file = tmp_path / "SMPL_NEUTRAL.npz"
    write_npz(make_random_smpl(seed=0, num_betas=10), smpl_file)
    open_fits = write_fits(tmp_path / "open.json", [entry("street.png", 1)])
    with pytest.raises(RenderInputError, match="bundled open body model"):
        draw_fits(open_fits, images, tmp_path / "out2", body_model_path=smpl_file, crop_size=CROP)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_the_command_reads_configs_render_and_its_flags_set_the_fields(tmp_path, images, capsys):
    from eft_jax import cli

    fits = write_fits(tmp_path / "fits.json", [entry("street.png", 1), entry("street.png", 2)])
    out = tmp_path / "out"
    argv = ["render", "--fits", str(fits), "--images", str(images), "--out", str(out)]
    assert cli.main(argv + ["--crop-size", "16", "limit=1"]) == 0
    assert [p.name for p in out.glob("*.png")] == ["street_1.png"]
    assert load_rgb(out / "street_1.png").shape == (16, 48, 3)
    assert cli.main(argv + ["crop_sise=16"]) == 2
    assert "config has no field 'crop_sise'" in capsys.readouterr().err
