"""Tiny datasets in each native schema, generated inside the tests (images and annotation files):
COCO, MPII (.mat), hr-LSPet (joints.mat), OpenPose JSON, SPIN's npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 160, 120


def save_images(folder: Path, names, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(
            folder / name
        )


def standing(x0: float, y0: float, size: float, count: int, seed: int) -> np.ndarray:
    """(count, 2) points of a standing figure inside the box (x0, y0, size, size)."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [x0 + rng.uniform(0.2, 0.8, count) * size, y0 + np.linspace(0.1, 0.9, count) * size], 1
    )


def coco_annotation(annot_id, image_id, x0, y0, size, visible=None):
    points = standing(x0, y0, size, 17, annot_id)
    flags = np.full(17, 2.0) if visible is None else np.asarray(visible, np.float64)
    keypoints = np.concatenate([points, flags[:, None]], 1).ravel().tolist()
    return {
        "id": annot_id,
        "image_id": image_id,
        "keypoints": keypoints,
        "num_keypoints": int((flags > 0).sum()),
        "bbox": [x0, y0, size, size],
        "iscrowd": 0,
        "category_id": 1,
        "area": size * size,
    }


def make_coco(root: Path, split: str = "val2017") -> Path:
    """root/annotations/person_keypoints_<split>.json + root/<split>/: people 1-3 are good (3 has
    8 of 12 limbs: COCO-All only), 4 is a crowd, 5 sits on a missing image, 6 on a corrupt one,
    7 has a keypoint a million pixels off, 8 a zero-area box."""
    save_images(root / split, ["a.jpg", "b.jpg"])
    (root / split / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    upper_body = np.full(17, 2.0)
    upper_body[[11, 12, 13, 14]] = 0  # hips and knees not annotated: 8 of 12 limb keypoints
    crowd = coco_annotation(4, 1, 10, 10, 50)
    crowd["iscrowd"] = 1
    far = coco_annotation(7, 2, 20, 20, 60)
    far["keypoints"][9 * 3] = 1e6
    flat = coco_annotation(8, 2, 20, 20, 60)
    flat["bbox"] = [20, 20, 0, 60]
    document = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT},
            {"id": 2, "file_name": "b.jpg", "width": WIDTH, "height": HEIGHT},
            {"id": 3, "file_name": "missing.jpg", "width": WIDTH, "height": HEIGHT},
            {"id": 4, "file_name": "corrupt.jpg", "width": WIDTH, "height": HEIGHT},
        ],
        "annotations": [
            coco_annotation(1, 1, 20, 10, 80),
            coco_annotation(2, 1, 90, 20, 60),
            coco_annotation(3, 2, 30, 15, 90, visible=upper_body),
            crowd,
            coco_annotation(5, 3, 10, 10, 50),
            coco_annotation(6, 4, 10, 10, 50),
            far,
            flat,
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def make_mpii(root: Path, annotation_folder: str = "") -> Path:
    """root/<annotation_folder>/mpii_human_pose_v1_u12_1.mat + root/images/: image 0 has two
    people (the second with 12 joints only), image 1 one person, image 2 is a test image (not
    read)."""
    from scipy.io import savemat

    save_images(root / "images", ["000001.jpg", "000002.jpg"])

    def person(seed, joints=16, x0=30, y0=10, size=90):
        points = standing(x0, y0, size, 16, seed)
        cells = np.empty(joints, dtype=object)
        for j in range(joints):
            cells[j] = {"id": j, "x": points[j, 0], "y": points[j, 1], "is_visible": 1}
        return {
            "annopoints": {"point": cells},
            "scale": size / 200.0,
            "objpos": {"x": x0 + size / 2, "y": y0 + size / 2},
        }

    def image(name, people):
        rects = np.empty(len(people), dtype=object)
        rects[:] = people
        return {"image": {"name": name}, "annorect": rects}

    annolist = np.empty(3, dtype=object)
    annolist[:] = [
        image("000001.jpg", [person(1), person(2, joints=12, x0=80)]),
        image("000002.jpg", [person(3)]),
        image("000003.jpg", [person(4)]),
    ]
    path = root / annotation_folder / "mpii_human_pose_v1_u12_1.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"RELEASE": {"annolist": annolist, "img_train": np.array([1, 1, 0])}})
    return path


def make_lspet(root: Path, count: int = 3) -> Path:
    """root/joints.mat (14 x 3 x count) + root/im00001.png ...; person 1's head top is flagged 0."""
    from scipy.io import savemat

    names = [f"im{i + 1:05d}.png" for i in range(count)]
    save_images(root, names)
    joints = np.zeros((14, 3, count))
    for i in range(count):
        joints[:, :2, i] = standing(20 + 10 * i, 10, 90, 14, 10 + i)
        joints[:, 2, i] = 1
    joints[13, :, 1] = 0  # not annotated: (0, 0) and flag 0
    path = root / "joints.mat"
    savemat(path, {"joints": joints})
    return path


def openpose_person(seed, count, x0=20, y0=10, size=90, confidence=0.9) -> list:
    points = standing(x0, y0, size, count, seed)
    return np.concatenate([points, np.full((count, 1), confidence)], 1).ravel().tolist()


def make_openpose(root: Path) -> None:
    """root/images/{a,b,c}.jpg + root/keypoints/<stem>_keypoints.json: a has two BODY_25 people
    (the second with low confidences), b one COCO-18 person, c no OpenPose file."""
    save_images(root / "images", ["a.jpg", "b.jpg", "c.jpg"])
    folder = root / "keypoints"
    folder.mkdir(parents=True, exist_ok=True)
    a = {
        "version": 1.3,
        "people": [
            {"pose_keypoints_2d": openpose_person(1, 25)},
            {"pose_keypoints_2d": openpose_person(2, 25, x0=90, confidence=0.1)},
        ],
    }
    b = {"version": 1.3, "people": [{"pose_keypoints_2d": openpose_person(3, 18)}]}
    (folder / "a_keypoints.json").write_text(json.dumps(a))
    (folder / "b_keypoints.json").write_text(json.dumps(b))


def make_spin_npz(root: Path, count: int = 3) -> Path:
    """root/images/*.jpg + root/train.npz in SPIN's training layout (row 2 has no keypoints)."""
    names = [f"img_{i}.jpg" for i in range(count)]
    save_images(root / "images", names)
    part = np.zeros((count, 24, 3))
    for i in range(count):
        part[i, :14, :2] = standing(20, 10, 90, 14, 20 + i)
        part[i, :14, 2] = 1
    part[2, :, 2] = 0
    path = root / "train.npz"
    np.savez(
        path,
        imgname=np.array([f"images/{n}" for n in names]),
        center=np.tile([65.0, 55.0], (count, 1)),
        scale=np.full(count, 1.2 * 90 / 200),
        part=part,
        openpose=np.zeros((count, 25, 3)),
    )
    return path


def make_pw3d(root: Path, split: str = "test", frames: int = 3) -> Path:
    """root/sequenceFiles/<split>/seq_a.pkl (a Python-2-style pickle, numpy 1 module names) and
    root/imageFiles/seq_a/image_00000.jpg ...: two people; person 1's camera pose is invalid in
    frame 1."""
    import pickle

    save_images(root / "imageFiles" / "seq_a", [f"image_{i:05d}.jpg" for i in range(frames)])
    rng = np.random.default_rng(5)
    poses2d = []
    for person in range(2):
        track = np.zeros((frames, 3, 18))
        for frame in range(frames):
            track[frame, :2] = standing(20 + 60 * person, 10, 90, 18, 100 * person + frame).T
            track[frame, 2] = 0.8
        poses2d.append(track)
    cam_poses = np.tile(np.eye(4), (frames, 1, 1))
    cam_poses[:, :3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # camera looking down -z
    data = {
        "sequence": "seq_a",
        "poses": [rng.normal(0, 0.2, (frames, 72)) for _ in range(2)],
        "betas": [rng.normal(0, 1, 300) for _ in range(2)],
        "poses2d": poses2d,
        "cam_poses": cam_poses,
        "campose_valid": [np.ones(frames), np.array([1, 0] + [1] * (frames - 2))],
        "genders": ["m", "f"],
        "trans": [np.zeros((frames, 3)) for _ in range(2)],
        "cam_intrinsics": np.array([[150.0, 0.0, 61.0], [0.0, 148.0, 47.0], [0.0, 0.0, 1.0]]),
    }
    path = root / "sequenceFiles" / split / "seq_a.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        pickle.dumps(data, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    )
    return path


def make_evaluation_npz(root: Path, name: str, count: int = 2, with_part: bool = False) -> Path:
    """SPIN's evaluation layout: imgname, center, scale, S (N, 24, 4) [, part (N, 24, 3)]."""
    names = [f"e_{i}.jpg" for i in range(count)]
    save_images(root, names)
    rng = np.random.default_rng(7)
    arrays = {
        "imgname": np.array(names),
        "center": np.tile([80.0, 60.0], (count, 1)),
        "scale": np.full(count, 0.5),
        "S": np.concatenate([rng.normal(0, 0.3, (count, 24, 3)), np.ones((count, 24, 1))], -1),
    }
    if with_part:
        part = np.zeros((count, 24, 3))
        part[:, :14, :2] = standing(40, 20, 80, 14, 9)
        part[:, :14, 2] = 1
        arrays["part"] = part
    path = root / name
    np.savez(path, **arrays)
    return path
