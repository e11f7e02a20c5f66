import json

import numpy as np
import pytest

from eft_jax.body import SPIN49_NAMES
from eft_jax.datasets.coco import CocoFormatError, read_coco_keypoints
from eft_jax.datasets.people import iter_exemplars
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.images import save_png
from eft_jax.geometry import crops

pytestmark = pytest.mark.fast_compiles


def _person(x0, y0, visible=2):
    """17 COCO keypoints of a standing person whose top-left is (x0, y0)."""
    points = [
        (20, 0),
        (16, -3),
        (24, -3),
        (12, 0),
        (28, 0),
        (8, 15),
        (32, 15),
        (4, 30),
        (36, 30),
        (2, 45),
        (38, 45),
        (12, 50),
        (28, 50),
        (12, 70),
        (28, 70),
        (12, 90),
        (28, 90),
    ]
    return [v for x, y in points for v in (x0 + x, y0 + 10 + y, visible)]


def _write_dataset(tmp_path):
    images_dir = tmp_path / "images"
    image = np.zeros((160, 200, 3), np.uint8)
    image[80:83, 70:73] = (0, 255, 0)  # a green marker centred on pixel (x=71, y=81)
    save_png(images_dir / "a.png", image)
    (images_dir / "junk.jpg").parent.mkdir(parents=True, exist_ok=True)
    (images_dir / "junk.jpg").write_bytes(b"definitely not a jpeg")
    eleven = _person(100, 10)
    eleven[16 * 3 + 2] = 0  # right ankle not annotated
    with_nan = _person(10, 10)
    with_nan[0] = float("nan")
    second = _person(120, 20, visible=1)
    annotations = [
        {
            "id": 11,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [59, 10, 40, 100],
            "keypoints": _person(59, 10),
        },
        {
            "id": 12,
            "image_id": 1,
            "iscrowd": 1,
            "num_keypoints": 0,
            "bbox": [0, 0, 50, 50],
            "keypoints": [0] * 51,
        },
        {
            "id": 13,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 16,
            "bbox": [100, 10, 40, 100],
            "keypoints": eleven,
        },
        {
            "id": 14,
            "image_id": 2,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [10, 10, 40, 100],
            "keypoints": _person(10, 10),
        },
        {
            "id": 15,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [10, 10, 40, 100],
            "keypoints": with_nan,
        },
        {
            "id": 16,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [10, 10, 0, 100],
            "keypoints": _person(10, 10),
        },
        {
            "id": 17,
            "image_id": 99,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [10, 10, 40, 100],
            "keypoints": _person(10, 10),
        },
        {
            "id": 18,
            "image_id": 3,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [10, 10, 40, 100],
            "keypoints": _person(10, 10),
        },
        {
            "id": 19,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [120, 20, 40, 100],
            "keypoints": second,
        },
        {
            "id": 20,
            "image_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "bbox": [1, 1, 4, 4],
            "keypoints": [1, 2] * 25,
        },
    ]
    document = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 200, "height": 160},
            {"id": 2, "file_name": "missing.jpg"},
            {"id": 3, "file_name": "junk.jpg"},
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "person_keypoints_test.json"
    path.write_text(json.dumps(document))  # NaN is written as the token NaN, which json reads
    return path, images_dir


def _split(items):
    return [i for i in items if not isinstance(i, Skip)], [i for i in items if isinstance(i, Skip)]


def test_reader_keeps_spin_rule_and_records_every_drop(tmp_path):
    path, images_dir = _write_dataset(tmp_path)
    items = read_coco_keypoints(path, selection="coco-part")
    assert [i.id for i in items] == [str(n) for n in range(11, 21)]  # input order
    people, skipped = _split(items)
    assert [p.id for p in people] == ["11", "14", "18", "19"]
    reasons = {s.id: s.reason for s in skipped}
    assert set(reasons) == {"12", "13", "15", "16", "17", "20"}
    assert "crowd" in reasons["12"]
    assert "11 of 12 limb keypoints annotated (coco-part needs 12)" in reasons["13"]
    assert "NaN" in reasons["15"]
    assert "no crop box" in reasons["16"]
    assert "not in 'images'" in reasons["17"]
    assert "51 numbers" in reasons["20"]
    assert len(people) + len(skipped) == 10  # nothing silently lost
    first = people[0]
    assert first.annot_id == 11 and first.image_name == "a.png"
    np.testing.assert_allclose(first.center, [79, 60])  # SPIN: bbox centre
    assert first.scale == pytest.approx(1.2 * 100 / 200)  # SPIN: 1.2 * max(w, h) / 200
    assert first.keypoints.shape == (49, 3)
    assert first.keypoints[SPIN49_NAMES.index("Left Hip")].tolist() == [71, 70, 1]
    assert first.keypoints[:25].sum() == 0  # nothing in the OpenPose keypoints
    assert people[3].keypoints[25:, 2].max() == 1  # v=1 -> confidence 1
    # EFT's COCO-All keeps the 11-keypoint person; box="keypoints" uses the keypoints' extent.
    people6, _ = _split(read_coco_keypoints(path, selection="coco-all", box="keypoints"))
    assert "13" in [p.id for p in people6]
    assert people6[0].scale == pytest.approx(1.2 * 93 / 200)


def test_loader_yields_crops_or_skips_in_order(tmp_path):
    path, images_dir = _write_dataset(tmp_path)
    people, _ = _split(read_coco_keypoints(path, selection="coco-part"))
    items = list(iter_exemplars(people, images_dir, crop_size=64))
    assert [item.id for item in items] == ["11", "14", "18", "19"]
    assert isinstance(items[1], Skip) and "no such image file" in items[1].reason
    assert isinstance(items[2], Skip) and "cannot decode" in items[2].reason
    assert items[1].image_name == "missing.jpg" and items[1].annot_id == 14
    exemplar = items[0]
    assert not isinstance(exemplar, Skip)
    assert exemplar.image.shape == (64, 64, 3) and exemplar.image.dtype == np.float32
    assert exemplar.keypoints.shape == (49, 3) and exemplar.keypoints.dtype == np.float32
    assert exemplar.annot_id == 11 and exemplar.image_name == "a.png"
    expected = crops.image_to_crop(people[0].keypoints, people[0].center, people[0].scale)
    np.testing.assert_allclose(exemplar.keypoints, expected, atol=1e-6)
    # the green marker at image (71, 81) shows up in the crop where that point maps to
    u = (
        crops.image_to_crop(np.array([[71.0, 81.0]]), people[0].center, people[0].scale)[0] + 1
    ) * 32
    rgb = crops.denormalize_image(exemplar.image[int(u[1]), int(u[0])])
    assert rgb[1] > 200 and rgb[0] < 30


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"images": [], "annotations": [', r"not valid JSON \(line 1"),
        ("[1, 2]", "top level is a list"),
        ('{"images": []}', "missing 'annotations'"),
        ('{"images": {}, "annotations": []}', "'images' is a dict"),
        ('{"images": [{"id": 1}], "annotations": []}', r"images\[0\] needs 'id' and 'file_name'"),
        (
            '{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 1, 1]}]}',
            "not a COCO keypoint file",
        ),
        (
            '{"images": [], "annotations": [{"id": 1, "keypoints": []}, {"id": 1, "keypoints": []}]}',
            "annotation id 1 appears more than once",
        ),
    ],
)
def test_malformed_files_name_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CocoFormatError, match=message) as error:
        read_coco_keypoints(path)
    assert "bad.json" in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(CocoFormatError, match="no such COCO annotation file"):
        read_coco_keypoints(tmp_path / "nope.json")
