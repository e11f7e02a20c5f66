"""EFT-format fit files (JSON), readable by code written for the released EFT files.

The layout matches EFT's exporter (`eft/utils/exportDB.py`, `pklToJson`) and what EFT's viewers
read (`demo/visEFTFit.py`, `demo/visEFTFit_coco.py`, `docs/README_dataformat.md`):

    {"ver": 0.1,
     "data": [ {                                    # one per fitted person, in input order
         "parm_pose":  24 x 3 x 3 nested lists,     # rotation matrices, root first
         "parm_shape": 10 floats,                   # betas
         "parm_cam":   3 floats,                    # weak perspective [s, tx, ty] (crop in [-1, 1])
         "bbox_scale": float,                       # box side / 200 px
         "bbox_center": [x, y],                     # image pixels
         "gt_keypoint_2d": 49 x 3 nested lists,     # input keypoints, SPIN-49, image pixels + conf
                                                    # (missing joints: 0, 0, 0)
         "joint_validity_openpose18": 18 floats,    # 1.0 / 0.0, see body/joint_sets.py
         "smpltype": str,                           # "smpl", or "eftjax_open" (bundled open model)
         "annotId": int,                            # COCO annotation id; 0 when there is none
         "imageName": str,                          # image file, relative to the images folder
         # eft-jax extras (EFT's readers ignore them):
         "exemplar_id": str, "iterations": int, "loss_2d_before": float,
         "loss_2d_after": float, "stop_reason": str, "body_model": str,
         "keypoint_error_px_before": float, "keypoint_error_px_after": float,  # when given
         "pred_keypoint_2d": 49 x 2 nested lists,  # the fit's SPIN-49 joints, image pixels
         # full-frame fits only (camera=full_frame, docs/camera.md):
         "cam_t": 3 floats,                         # the body's translation in the camera frame
         "cam_int": 3 x 3 nested lists,             # the intrinsics used, K in image pixels
         "quality_score": float, "quality_<signal>": float, ...  # when logged (docs/quality.md)
       }, ...],
     "meta": {"dbname": ..., "writer": "eft-jax <version>", "body_model": ..., "smpltype": ...},
     "skipped": [ {"id", "skip_reason", "annotId", "imageName"}, ... ]}   # eft-jax extra

`smpltype` says which body model the parameters belong to: "smpl" only for fits made with the
official SMPL model; fits made with eft-jax's bundled open body model (same parameter layout,
different body) say "eftjax_open", so no reader mistakes them for SMPL parameters.

Arrays in `parm_*`, `gt_keypoint_2d` and `pred_keypoint_2d` are rounded to `decimals` (default 7)
places to keep files small (float32 carries about 7 significant digits). A fit with NaN or
infinite values is never written as data: it goes to "skipped" with the reason.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import joint_validity_openpose18
from eft_jax.errors import InputError
from eft_jax.formats.exemplar import Skip
from eft_jax.formats.json_numbers import MAX_DECIMALS, array_texts, formattable, rounded_keys
from eft_jax.geometry.crops import crop_to_image

EFT_VERSION = 0.1  # the "ver" of EFT's released files
SMPLTYPES = {"smpl": "smpl", "open": "eftjax_open"}
QUALITY_PREFIX = "quality_"  # the fit log's quality fields, copied as they are


class EftJsonError(InputError, ValueError):
    """An EFT JSON file (or record) that does not have the expected layout."""


def smpltype_for(body_kind: str) -> str:
    """`smpltype` for a body model kind (`BodyModel.kind`: 'smpl' or 'open')."""
    try:
        return SMPLTYPES[body_kind]
    except KeyError:
        raise ValueError(
            f"unknown body model kind {body_kind!r}; known: {sorted(SMPLTYPES)}"
        ) from None


def _writer_id() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"eft-jax {version('eft-jax')}"
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "eft-jax"


def _array(record: dict, key: str, shape: tuple, where: str) -> np.ndarray:
    if key not in record:
        raise EftJsonError(f"{where}: missing '{key}'")
    try:
        value = np.asarray(record[key], np.float64)
    except (TypeError, ValueError) as error:
        raise EftJsonError(f"{where}: '{key}' is not numeric ({error})") from error
    if value.shape != shape:
        raise EftJsonError(f"{where}: '{key}' must have shape {shape}; got {value.shape}")
    return value


def _listed(array: np.ndarray, decimals: int | None) -> list:
    array = np.asarray(array, np.float64)
    if decimals is not None:
        array = np.round(array, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return array.tolist()


def _int_or_zero(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _described(fit: dict, where: str, smpltype: str, body_model: str) -> dict:
    """The entry's fields after its arrays, smpltype to body_model, checked."""
    try:
        annot_id = int(fit.get("annotId", 0) or 0)
    except (TypeError, ValueError):
        raise EftJsonError(
            f"{where}: 'annotId' must be an integer; got {fit['annotId']!r}"
        ) from None
    entry = {
        "smpltype": smpltype,
        "annotId": annot_id,
        "imageName": str(fit.get("imageName", "")),
        "exemplar_id": str(fit.get("id", "")),
    }
    for key, cast in (
        ("iterations", int),
        ("loss_2d_before", float),
        ("loss_2d_after", float),
        ("keypoint_error_px_before", float),
        ("keypoint_error_px_after", float),
        ("stop_reason", str),
    ):
        if key in fit and fit[key] is not None:
            value = cast(fit[key])
            if isinstance(value, float) and not math.isfinite(value):
                raise EftJsonError(f"{where}: '{key}' is {value}")
            entry[key] = value
    for key, value in fit.items():  # the quality signals and score (fitting/quality.py)
        if key.startswith(QUALITY_PREFIX) and value is not None and math.isfinite(float(value)):
            entry[key] = float(value)
    entry["body_model"] = str(body_model)
    return entry


def eft_entry(fit: dict, *, smpltype: str, body_model: str, decimals: int | None = 7) -> dict:
    """One EFT `data` entry from a fit record (a fit log line: the engine's result merged with the
    exemplar's id, center, scale, keypoints (normalised), annotId and imageName).

    Raises EftJsonError naming the exemplar when a field is missing, mis-shaped or not finite.
    """
    where = f"exemplar {fit.get('id', '?')!r}"
    rotmats = _array(fit, "rotmats", (24, 3, 3), where)
    betas = _array(fit, "betas", (10,), where)
    camera = _array(fit, "camera", (3,), where)
    center = _array(fit, "center", (2,), where)
    scale = float(_array(fit, "scale", (), where))
    keypoints = _array(fit, "keypoints", (49, 3), where)
    predicted = (
        _array(fit, "pred_keypoints_2d", (49, 2), where) if "pred_keypoints_2d" in fit else None
    )
    for name, value in (
        ("rotmats", rotmats),
        ("betas", betas),
        ("camera", camera),
        ("center", center),
    ):
        if not np.all(np.isfinite(value)):
            raise EftJsonError(f"{where}: '{name}' has NaN or infinite values")
    if not (math.isfinite(scale) and scale > 0):
        raise EftJsonError(f"{where}: 'scale' must be positive and finite; got {scale}")
    keypoints = np.where(np.isfinite(keypoints), keypoints, 0.0)
    gt_keypoints = crop_to_image(keypoints, center, scale)
    gt_keypoints[keypoints[:, 2] <= 0] = 0.0  # missing joints are (0, 0, 0), as in EFT's files
    entry = {
        "parm_pose": _listed(rotmats, decimals),
        "parm_shape": _listed(betas, decimals),
        "parm_cam": _listed(camera, decimals),
        "bbox_scale": scale,
        "bbox_center": center.tolist(),
        "gt_keypoint_2d": _listed(gt_keypoints, decimals),
        "joint_validity_openpose18": joint_validity_openpose18(keypoints).tolist(),
        **_described(fit, where, smpltype, body_model),
    }
    if predicted is not None:
        if not np.all(np.isfinite(predicted)):
            raise EftJsonError(f"{where}: 'pred_keypoints_2d' has NaN or infinite values")
        entry["pred_keypoint_2d"] = _listed(crop_to_image(predicted, center, scale), decimals)
    if "cam_t" in fit:
        translation = _array(fit, "cam_t", (3,), where)
        focal = _array(fit, "focal_length", (2,), where)
        principal = _array(fit, "principal_point", (2,), where)
        for name, value in (
            ("cam_t", translation),
            ("focal_length", focal),
            ("principal_point", principal),
        ):
            if not np.all(np.isfinite(value)):
                raise EftJsonError(f"{where}: '{name}' has NaN or infinite values")
        entry["cam_t"] = _listed(translation, decimals)
        entry["cam_int"] = _listed(camera_matrix(focal, principal), decimals)
    return entry


def camera_matrix(focal, principal_point) -> np.ndarray:
    """(3, 3) K of a pinhole camera: focal lengths (f_x, f_y) and principal point, in pixels."""
    K = np.eye(3)
    K[[0, 1], [0, 1]] = focal
    K[:2, 2] = principal_point
    return K


def _entry_or_skip(fit, *, smpltype: str, body_model: str, decimals: int | None):
    if isinstance(fit, Skip):
        return fit
    try:
        return eft_entry(fit, smpltype=smpltype, body_model=body_model, decimals=decimals)
    except EftJsonError as error:
        return Skip(
            fit.get("id", ""),
            f"not written: {error}",
            _int_or_zero(fit.get("annotId")),
            fit.get("imageName", ""),
        )


BLOCK = 256  # fit records made into entries at once by `EntryBlock`
_STACKED = {"rotmats": (24, 3, 3), "betas": (10,), "camera": (3,), "center": (2,)}
_STACKED_KEYPOINTS = {"keypoints": (49, 3), "pred_keypoints_2d": (49, 2)}


def _stackable(fit, with_prediction: bool) -> bool:
    """A fit record whose arrays are numpy float arrays of the entry's shapes (as result shards
    give them), with or without predicted keypoints, and no full-frame camera."""
    if isinstance(fit, Skip) or "cam_t" in fit or ("pred_keypoints_2d" in fit) != with_prediction:
        return False
    shapes = {**_STACKED, "keypoints": (49, 3)}
    if with_prediction:
        shapes["pred_keypoints_2d"] = (49, 2)
    for key, shape in shapes.items():
        value = fit.get(key)
        if not (isinstance(value, np.ndarray) and value.shape == shape and value.dtype.kind == "f"):
            return False
    scale = fit.get("scale")
    return isinstance(scale, (float, np.floating))


class EntryBlock:
    """The EFT entries of many fit records made at once with numpy: the same rounding, crop to
    image and validity as `eft_entry`, a whole block of records per operation. Rows that are not
    `_stackable`, or that `eft_entry` would refuse, are left out (`rows` lists the ones made),
    for `eft_entry` to make or refuse one by one.

        block = EntryBlock(fits, smpltype="smpl", body_model="smpl.npz", decimals=7)
        block.rows          # positions in `fits` made here
        block.keys          # {"parm_pose": k, ...}: the rounded arrays as integers k (json_numbers)
        block.texts()       # {row: the entry's JSON text}, byte for byte json.dumps(eft_entry(...))
    """

    def __init__(self, fits: list, *, smpltype: str, body_model: str, decimals: int):
        self.decimals = decimals
        self.rows, self.keys, self.scales, self.centers, self.described = [], {}, [], None, []
        rows = [i for i, fit in enumerate(fits) if _stackable(fit, False)]
        predicted_rows = [i for i, fit in enumerate(fits) if _stackable(fit, True)]
        if rows and predicted_rows:  # blocks mix them rarely: the smaller kind goes one by one
            rows = rows if len(rows) >= len(predicted_rows) else predicted_rows
        rows = rows or predicted_rows
        if not rows:
            return
        records = [fits[i] for i in rows]
        stacked = {
            key: np.stack([fit[key] for fit in records]).astype(np.float64)
            for key in (*_STACKED, *(k for k in _STACKED_KEYPOINTS if k in records[0]))
        }
        scale = np.asarray([float(fit["scale"]) for fit in records])
        valid = np.isfinite(scale) & (scale > 0)
        for key in (*_STACKED, "pred_keypoints_2d"):
            if key in stacked:
                valid &= np.isfinite(stacked[key]).reshape(len(records), -1).all(axis=1)
        kept = []
        for n in np.flatnonzero(valid):
            try:
                where = f"exemplar {records[n].get('id', '?')!r}"
                self.described.append(_described(records[n], where, smpltype, body_model))
            except EftJsonError:
                continue
            kept.append(n)
        if not kept:
            return
        self.rows = [rows[n] for n in kept]
        stacked = {key: value[kept] for key, value in stacked.items()}
        self.scales, self.centers = scale[kept], stacked["center"]
        keypoints = stacked["keypoints"]
        keypoints = np.where(np.isfinite(keypoints), keypoints, 0.0)
        gt_keypoints = crop_to_image(keypoints, self.centers, self.scales)
        gt_keypoints[keypoints[..., 2] <= 0] = 0.0
        arrays = {
            "parm_pose": stacked["rotmats"],
            "parm_shape": stacked["betas"],
            "parm_cam": stacked["camera"],
            "gt_keypoint_2d": gt_keypoints,
            "joint_validity_openpose18": joint_validity_openpose18(keypoints),  # 0 or 1: exact
        }
        if "pred_keypoints_2d" in stacked:
            arrays["pred_keypoint_2d"] = crop_to_image(
                stacked["pred_keypoints_2d"], self.centers, self.scales
            )
        self.keys = {name: rounded_keys(value, decimals) for name, value in arrays.items()}

    def rounded(self, name: str) -> np.ndarray:
        """An array of the entries as `eft_entry` lists it: np.round(values, decimals) + 0.0."""
        return self.keys[name] / 10.0**self.decimals + 0.0

    def entries(self) -> dict[int, dict]:
        """{row: the entry}: `eft_entry`'s values, with numpy arrays where it has lists."""
        rounded = {name: self.rounded(name) for name in self.keys}
        return {
            row: {
                "parm_pose": rounded["parm_pose"][n],
                "parm_shape": rounded["parm_shape"][n],
                "parm_cam": rounded["parm_cam"][n],
                "bbox_scale": float(self.scales[n]),
                "bbox_center": self.centers[n],
                "gt_keypoint_2d": rounded["gt_keypoint_2d"][n],
                "joint_validity_openpose18": rounded["joint_validity_openpose18"][n],
                **self.described[n],
                **(
                    {"pred_keypoint_2d": rounded["pred_keypoint_2d"][n]}
                    if "pred_keypoint_2d" in rounded
                    else {}
                ),
            }
            for n, row in enumerate(self.rows)
        }

    def texts(self) -> dict[int, str]:
        """{row: the entry's JSON text}, byte for byte `json.dumps(eft_entry(...))`: the arrays
        written by `json_numbers` where it can (rows with no value under 1e-4 but 0), else
        listed for `json.dumps`."""
        if not self.rows:
            return {}
        names = list(self.keys)
        count = len(self.rows)
        flat = np.concatenate([self.keys[n].reshape(count, -1) for n in names], axis=1)
        written = formattable(flat, self.decimals)
        listed = iter(
            array_texts([self.keys[name][written] for name in names], self.decimals)
            if written.any()
            else ()
        )
        texts = {}
        for n in range(count):
            if written[n]:
                text = dict(zip(names, next(listed), strict=True))
            else:
                scale = 10.0**self.decimals
                text = {
                    name: json.dumps((self.keys[name][n] / scale + 0.0).tolist()) for name in names
                }
            predicted = text.get("pred_keypoint_2d")
            # bbox_scale and bbox_center are finite floats: repr is what json.dumps writes
            texts[self.rows[n]] = (
                f'{{"parm_pose": {text["parm_pose"]}, "parm_shape": {text["parm_shape"]}, '
                f'"parm_cam": {text["parm_cam"]}, "bbox_scale": {float(self.scales[n])!r}, '
                f'"bbox_center": {self.centers[n].tolist()!r}, '
                f'"gt_keypoint_2d": {text["gt_keypoint_2d"]}, '
                f'"joint_validity_openpose18": {text["joint_validity_openpose18"]}, '
                f"{json.dumps(self.described[n], allow_nan=False)[1:-1]}"
                + ("" if predicted is None else f', "pred_keypoint_2d": {predicted}')
                + "}"
            )
        return texts


def _blocks(fits, *, smpltype: str, body_model: str, decimals: int | None):
    """(block of `BLOCK` items, its EntryBlock or None where decimals are not ones it rounds)."""
    fits = iter(fits)
    while block := list(itertools.islice(fits, BLOCK)):
        made = None
        if isinstance(decimals, int) and 0 < decimals <= MAX_DECIMALS:
            made = EntryBlock(block, smpltype=smpltype, body_model=body_model, decimals=decimals)
        yield block, made


def eft_entry_arrays(fits, *, smpltype: str, body_model: str, decimals: int | None = 7):
    """Each fit record's EFT `data` entry, in order; a skip record (`formats.exemplar.Skip`), or
    a fit that cannot be written (NaN, missing field) as a Skip with the reason, as a Skip. Made
    `BLOCK` records at a time where `EntryBlock` can (its entries hold numpy arrays where
    `eft_entry`'s hold lists: for writers of arrays), else one by one."""
    for block, made in _blocks(fits, smpltype=smpltype, body_model=body_model, decimals=decimals):
        entries = made.entries() if made is not None else {}
        for row, fit in enumerate(block):
            yield (
                entries[row]
                if row in entries
                else _entry_or_skip(
                    fit, smpltype=smpltype, body_model=body_model, decimals=decimals
                )
            )


def eft_entry_texts(fits, *, smpltype: str, body_model: str, decimals: int | None = 7):
    """What `eft_entry_arrays` gives, with each entry as its JSON text (`json.dumps`'s, byte for byte):
    made `BLOCK` records at a time by `EntryBlock` where it can, else one by one."""
    for block, made in _blocks(fits, smpltype=smpltype, body_model=body_model, decimals=decimals):
        texts = made.texts() if made is not None else {}
        for row, fit in enumerate(block):
            if row in texts:
                yield texts[row]
                continue
            item = _entry_or_skip(fit, smpltype=smpltype, body_model=body_model, decimals=decimals)
            yield item if isinstance(item, Skip) else json.dumps(item, allow_nan=False)


def write_eft_json(
    path: str | Path,
    fits,
    *,
    body_kind: str,
    body_model: str,
    skipped=(),
    dbname: str = "",
    meta: dict | None = None,
    decimals: int | None = 7,
) -> dict:
    """Write an EFT JSON file from fit records (and skip records) in input order.

    `fits` may mix fit records and skip records (`formats.exemplar.Skip`); `skipped` adds skip
    records that never reached fitting (listed after the others). A fit that cannot be written
    (NaN, missing field) becomes a skip with the reason. `fits` is streamed: each entry is written
    as it comes (the skips wait in a temporary file), so no more than `BLOCK` fits are in memory; the
    bytes are `json.dump`'s of the whole document. The file is written to a temporary name and
    renamed, so a reader never sees half a file. Returns a summary {'path', 'written', 'skipped'}.
    """
    smpltype = smpltype_for(body_kind)
    meta = {
        "dbname": dbname,
        "writer": _writer_id(),
        "body_model": str(body_model),
        "smpltype": smpltype,
        **(meta or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # per process: two merging processes never share it
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    written = skips = 0
    with (
        open(temporary, "w", encoding="utf-8") as handle,
        tempfile.TemporaryFile("w+", encoding="utf-8", dir=path.parent) as skip_lines,
    ):
        handle.write(f'{{"ver": {json.dumps(EFT_VERSION)}, "data": [')
        for item in eft_entry_texts(
            fits, smpltype=smpltype, body_model=body_model, decimals=decimals
        ):
            if isinstance(item, Skip):
                skip_lines.write(json.dumps(item.record(), allow_nan=False) + "\n")
                skips += 1
                continue
            handle.write((", " if written else "") + item)
            written += 1
        for skip in skipped:
            skip_lines.write(json.dumps(skip.record(), allow_nan=False) + "\n")
            skips += 1
        handle.write(f'], "meta": {json.dumps(meta, allow_nan=False)}, "skipped": [')
        skip_lines.seek(0)
        for number, line in enumerate(skip_lines):
            handle.write((", " if number else "") + line[:-1])
        handle.write("]}")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return {"path": path, "written": written, "skipped": skips}


_REQUIRED = {
    "parm_pose": (24, 3, 3),
    "parm_shape": (10,),
    "parm_cam": (3,),
    "bbox_center": (2,),
    "joint_validity_openpose18": (18,),
}


def read_eft_json(path: str | Path) -> dict:
    """Read an EFT JSON file (eft-jax's or EFT's released ones) and check its layout.

    Returns the document as stored: {'ver', 'data': [dict, ...], 'meta', 'skipped'} ('meta' and
    'skipped' are {} / [] when absent). Raises EftJsonError naming the file and the entry.
    """
    path = Path(path)
    if not path.is_file():
        raise EftJsonError(f"{path}: no such EFT JSON file")
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as error:
        raise EftJsonError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    if not isinstance(document, dict) or "data" not in document:
        raise EftJsonError(f"{path}: expected an object with 'ver' and 'data'")
    if not isinstance(document["data"], list):
        raise EftJsonError(f"{path}: 'data' must be a list")
    for index, entry in enumerate(document["data"]):
        where = f"{path}: data[{index}]"
        if not isinstance(entry, dict):
            raise EftJsonError(f"{where} is a {type(entry).__name__}, expected an object")
        for key, shape in _REQUIRED.items():
            _array(entry, key, shape, where)
        if not isinstance(entry.get("bbox_scale"), (int, float)) or isinstance(
            entry.get("bbox_scale"), bool
        ):
            raise EftJsonError(
                f"{where}: 'bbox_scale' must be a number; got {entry.get('bbox_scale')!r}"
            )
        if not isinstance(entry.get("imageName"), str):
            raise EftJsonError(
                f"{where}: 'imageName' must be a string; got {entry.get('imageName')!r}"
            )
    document.setdefault("ver", None)
    document.setdefault("meta", {})
    document.setdefault("skipped", [])
    return document


def stack_eft_data(data: list[dict]) -> dict:
    """EFT `data` entries -> arrays: parm_pose (N, 24, 3, 3), parm_shape (N, 10), parm_cam (N, 3),
    bbox_scale (N,), bbox_center (N, 2), joint_validity_openpose18 (N, 18) float32, and
    annotId (N,) int64, imageName (N,) str, smpltype (N,) str."""

    def stacked(key, shape):
        return np.asarray([entry[key] for entry in data], np.float32).reshape((len(data),) + shape)

    return {
        "parm_pose": stacked("parm_pose", (24, 3, 3)),
        "parm_shape": stacked("parm_shape", (10,)),
        "parm_cam": stacked("parm_cam", (3,)),
        "bbox_scale": stacked("bbox_scale", ()),
        "bbox_center": stacked("bbox_center", (2,)),
        "joint_validity_openpose18": stacked("joint_validity_openpose18", (18,)),
        "annotId": np.asarray([int(entry.get("annotId", 0)) for entry in data], np.int64),
        "imageName": np.asarray([entry["imageName"] for entry in data], dtype=str),
        "smpltype": np.asarray([entry.get("smpltype", "smpl") for entry in data], dtype=str),
    }
