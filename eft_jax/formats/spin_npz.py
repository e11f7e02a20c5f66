"""SPIN's training `.npz` from EFT JSON, so SPIN-style trainers read eft-jax pseudo ground truth.

Fields, as SPIN's `datasets/base_dataset.py` reads them (one row per EFT `data` entry, in order):

    imgname   (N,) str         image_prefix + imageName (SPIN joins it to the dataset's folder)
    center    (N, 2) float64   bbox_center, image pixels
    scale     (N,) float64     bbox_scale (box side / 200 px)
    part      (N, 24, 3)       gt_keypoint_2d[25:]: the 24 ground-truth joints, pixels + confidence
    openpose  (N, 25, 3)       gt_keypoint_2d[:25]: the OpenPose keypoints (zeros for annotated sets)
    pose      (N, 72) float64  parm_pose as axis-angle (24 x 3, root first), SMPL's layout
    shape     (N, 10) float64  parm_shape (betas)
    has_smpl  (N,) float64     1.0 where smpltype is "smpl", else 0.0 (see below)
    smpltype  (N,) str         extra (SPIN ignores it): the body model the parameters belong to
    cam_t     (N, 3) float64   extra, full-frame fits only: the body's translation in the camera
                               frame (EFT JSON's cam_t)
    cam_int   (N, 3, 3)        extra, full-frame fits only: the intrinsics used (K; BEDLAM's
                               labels' name, docs/camera.md)

SPIN's `BaseDataset` builds its keypoints as `concatenate([openpose, part])`, i.e. exactly the
EFT file's `gt_keypoint_2d` (SPIN-49). Fits made with the bundled open body model are not SMPL
parameters: their rows get has_smpl = 0, so a SPIN trainer uses their 2D keypoints and never
mistakes the open model's pose and shape for SMPL's. No `S` (3D joints) is written, so SPIN's
`has_pose_3d` is 0. Written with plain arrays (readable with allow_pickle=False), streamed: the
entries become arrays a chunk at a time, spooled to temporary files and copied into the archive,
so an export of millions of fits never holds them all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import GT_OFFSET, NUM_SPIN49
from eft_jax.formats.eft_json import EftJsonError, read_eft_json
from eft_jax.geometry import rotmat_to_axis_angle

CHUNK = 1024  # entries turned into arrays at a time


def spin_arrays(data: list[dict], image_prefix: str = "") -> dict:
    """The arrays of a SPIN training `.npz` from EFT JSON `data` entries."""
    n = len(data)
    keypoints = np.zeros((n, NUM_SPIN49, 3))
    for i, entry in enumerate(data):
        if "gt_keypoint_2d" not in entry:
            raise EftJsonError(
                f"data[{i}] has no 'gt_keypoint_2d' (SPIN's part / openpose come from it)"
            )
        value = np.asarray(entry["gt_keypoint_2d"], np.float64)
        if value.shape != (NUM_SPIN49, 3):
            raise EftJsonError(f"data[{i}]: 'gt_keypoint_2d' must be (49, 3); got {value.shape}")
        keypoints[i] = value
    rotmats = np.asarray([entry["parm_pose"] for entry in data], np.float64).reshape(n, 24, 3, 3)
    pose = np.asarray(rotmat_to_axis_angle(rotmats.astype(np.float32)), np.float64).reshape(n, 72)
    smpltype = np.asarray(
        [str(entry.get("smpltype", "smpl")) for entry in data], dtype=str
    ).reshape(n)
    return {
        "imgname": np.asarray(
            [image_prefix + entry["imageName"] for entry in data], dtype=str
        ).reshape(n),
        "center": np.asarray([entry["bbox_center"] for entry in data], np.float64).reshape(n, 2),
        "scale": np.asarray([entry["bbox_scale"] for entry in data], np.float64).reshape(n),
        "part": keypoints[:, GT_OFFSET:],
        "openpose": keypoints[:, :GT_OFFSET],
        "pose": pose,
        "shape": np.asarray([entry["parm_shape"] for entry in data], np.float64).reshape(n, 10),
        "has_smpl": (smpltype == "smpl").astype(np.float64),
        "smpltype": smpltype,
        **_full_frame_arrays(data),
    }


def _full_frame_arrays(data: list) -> dict:
    """cam_t and cam_int when every entry is a full-frame fit (docs/camera.md), else nothing."""
    if not data or not all("cam_t" in entry and "cam_int" in entry for entry in data):
        return {}
    n = len(data)
    return {
        "cam_t": np.asarray([entry["cam_t"] for entry in data], np.float64).reshape(n, 3),
        "cam_int": np.asarray([entry["cam_int"] for entry in data], np.float64).reshape(n, 3, 3),
    }


def write_spin_npz_entries(
    entries: Iterable[dict], out_npz: str | Path, image_prefix: str = "", chunk: int = CHUNK
) -> Path:
    """Write SPIN's training `.npz` from EFT `data` entries (any iterable, read once), `chunk` at a
    time; each field's rows go to a spool file, then into the archive under one `.npy` header
    (as `np.savez` writes it). Temporary name, then renamed."""
    out_npz = Path(out_npz)
    out_npz.parent.mkdir(parents=True, exist_ok=True)
    entries = iter(entries)
    spools, dtypes, shapes = {}, {}, {}
    with contextlib.ExitStack() as stack:
        first = True
        while True:
            data = list(itertools.islice(entries, chunk))
            if not data and not first:
                break
            for name, array in spin_arrays(data, image_prefix).items():
                if name not in spools:
                    spools[name] = stack.enter_context(tempfile.TemporaryFile(dir=out_npz.parent))
                    dtypes[name], shapes[name] = [], (0, *array.shape[1:])
                np.save(spools[name], array)
                dtypes[name].append(array.dtype)
                shapes[name] = (shapes[name][0] + len(array), *shapes[name][1:])
            first = False
        temporary = out_npz.with_name(f"{out_npz.name}.{os.getpid()}.tmp")
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, spool in spools.items():
                dtype = np.result_type(*dtypes[name])  # strings: the widest chunk's width
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": shapes[name],
                }
                spool.seek(0)
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    for _ in dtypes[name]:
                        member.write(np.load(spool).astype(dtype).tobytes())
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, out_npz)
    return out_npz


def write_spin_npz(eft_json: str | Path, out_npz: str | Path, image_prefix: str = "") -> Path:
    """Write SPIN's training `.npz` for an EFT JSON file."""
    return write_spin_npz_entries(read_eft_json(eft_json)["data"], out_npz, image_prefix)
