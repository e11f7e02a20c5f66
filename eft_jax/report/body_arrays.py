"""The body model's arrays for the report's 3D view, written once per report as a script.

    write_body_script(model, "report/data/body.js")   # window.EFT_BODY = {...}

The page poses every fit from its own parameters (`parm_pose`, `parm_shape`) by linear blend
skinning in JavaScript (`assets/viewer.js`), so a report holds no mesh per fit. The rest joints
are linear in the betas (J = J_regressor (v_template + shapedirs betas)), so the page gets them
as `joints_template` and `joints_shapedirs`, not the (24, V) regressor. Pose-corrective blend
shapes are left out: the bundled open body has none, and SMPL's (207 x V x 3 numbers) would
outweigh everything else; a SMPL body in the 3D view is skinned without them.

A report of fits made with SMPL holds SMPL's template, shape space, skinning weights and faces
in this file: SMPL's licence does not allow passing those on, so such a report must not be
shared outside the licence's terms (the bundled open body is CC0, and its reports can be).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from eft_jax import body


def _packed(array, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype).tobytes()).decode("ascii")


def body_arrays(model: body.BodyModel) -> dict:
    """The arrays the 3D view needs, base64-packed little-endian (float32, faces uint32)."""
    template = np.asarray(model.v_template, np.float64)
    shapedirs = np.asarray(model.shapedirs, np.float64)  # (V, 3, S)
    regressor = np.asarray(model.J_regressor, np.float64)  # (24, V)
    return {
        "kind": model.kind,
        "source": Path(model.source).name if model.source else model.kind,
        "num_vertices": int(template.shape[0]),
        "num_betas": int(shapedirs.shape[2]),
        "num_faces": int(np.asarray(model.faces).shape[0]),
        "parents": [int(p) for p in model.parents],
        "template": _packed(template, "<f4"),
        "shapedirs": _packed(np.transpose(shapedirs, (2, 0, 1)), "<f4"),  # (S, V, 3)
        "joints_template": _packed(regressor @ template, "<f4"),
        "joints_shapedirs": _packed(np.einsum("jv,vcs->sjc", regressor, shapedirs), "<f4"),
        "weights": _packed(model.weights, "<f4"),  # (V, 24)
        "faces": _packed(model.faces, "<u4"),
        "part": _packed(np.argmax(np.asarray(model.weights), axis=1), "<u1"),
    }


def sharing_note(body_kind: str) -> str | None:
    """What limits sharing a report of this kind of body model's fits (`BodyModel.kind`), or None."""
    if body_kind != "smpl":
        return None
    return (
        "this report holds SMPL's template, shape space, skinning weights and faces "
        "(data/body.js, for its 3D view): SMPL's licence does not allow passing them on, so share "
        "the report only with people who hold that licence"
    )


def write_body_script(model: body.BodyModel, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"window.EFT_BODY = {json.dumps(body_arrays(model))};\n")
    return path
