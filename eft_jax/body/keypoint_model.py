"""A body model cut down to what its SPIN-49 keypoints need, for fitting loops that never look at
the mesh.

SPIN-49 reads the 24 skeleton joints, 11 keypoint vertices and the extra regressor's joints. The
skeleton joints come from the rest joints (J_regressor applied to the shaped rest mesh, linear in
the betas), so they need no posed vertex at all; the keypoint vertices and the vertices the extra
regressor reads (909 of the open model's 13,718) are the only ones that must be skinned.

`keypoint_model(model)` returns a `BodyModel` whose vertices are those few, followed by 24 rows
that hold the rest joints themselves (template J_regressor v_template, shape directions
J_regressor shapedirs), picked out again by an identity J_regressor. `body.forward` on it gives
the same `joints`, `spin49`, `coco17` and `lsp14` as on the full model (same arithmetic, another
summation order), at a fraction of the cost; its `vertices` are only the kept ones, it has no
faces and no H36M regressor.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from eft_jax.body.model import BodyModel


def keypoint_model(model: BodyModel) -> BodyModel:
    """`model` reduced to the vertices its joint sets read (see the module docstring)."""
    dtype = model.v_template.dtype
    template = np.asarray(model.v_template, np.float64)
    shapedirs = np.asarray(model.shapedirs, np.float64)
    regressor = np.asarray(model.J_regressor, np.float64)
    extra = None if model.J_regressor_extra is None else np.asarray(model.J_regressor_extra, np.float64)
    keypoint_ids = np.asarray(model.vertex_keypoint_ids)

    used = set(keypoint_ids.tolist())
    if extra is not None:
        used |= set(np.flatnonzero(np.any(extra != 0, axis=0)).tolist())
    used = np.asarray(sorted(used), np.int64)
    num_joints = regressor.shape[0]

    joint_template = regressor @ template  # (24, 3)
    joint_dirs = np.einsum("jv,vcs->jcs", regressor, shapedirs)  # (24, 3, S)
    joint_weights = np.eye(num_joints)  # the joint rows are skinned too, harmlessly
    new_regressor = np.concatenate([np.zeros((num_joints, len(used))), np.eye(num_joints)], axis=1)
    position = {vertex: row for row, vertex in enumerate(used.tolist())}

    def cast(array):
        return jnp.asarray(array, dtype)

    posedirs = None
    if model.posedirs is not None:
        kept = np.asarray(model.posedirs)[used]
        posedirs = cast(np.concatenate([kept, np.zeros((num_joints,) + kept.shape[1:], kept.dtype)]))
    return BodyModel(
        v_template=cast(np.concatenate([template[used], joint_template])),
        shapedirs=cast(np.concatenate([shapedirs[used], joint_dirs])),
        posedirs=posedirs,
        J_regressor=cast(new_regressor),
        weights=cast(np.concatenate([np.asarray(model.weights, np.float64)[used], joint_weights])),
        faces=jnp.zeros((0, 3), jnp.int32),
        vertex_keypoint_ids=jnp.asarray([position[int(v)] for v in keypoint_ids], jnp.int32),
        J_regressor_extra=(
            None if extra is None else cast(np.concatenate([extra[:, used], np.zeros((extra.shape[0], num_joints))], 1))
        ),
        J_regressor_h36m=None,
        parents=model.parents,
        kind=model.kind,
        gender=model.gender,
        source=model.source,
    )
