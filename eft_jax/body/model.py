"""The body model as a pytree of arrays, and its forward pass in stages (linear blend skinning).

`BodyModel` holds everything a SMPL-layout model needs. The official SMPL model and the bundled
open model are both `BodyModel`s; the open model simply has no pose-corrective blend shapes
(`posedirs is None`) and carries its own vertex keypoints and extra joint regressor. Its
joints-only view (`joints_model`, a `JointsModel`) keeps only the vertices the joint sets read.

The forward pass is three stages, each a pytree (leading dimensions `...` are the batch's):

    shaped = model.with_shape(betas)     # ShapedBody: rest vertices and rest joints
    posed = shaped.with_pose(rotmats)    # PosedBody: the joints' rigid maps and posed joints
    out = posed.joint_sets()             # BodyOutput without the mesh (the joints-only path)
    skinned = posed.skin()               # SkinnedBody: the posed mesh (a BodyModel's only)
    out = skinned.joint_sets()           # BodyOutput with the mesh

`forward` and `forward_joints` run them for a pose in any of SMPL's forms; every stage is a pure
function of arrays, so it composes with `jit`, `vmap` and `grad` like any JAX function.

The steps follow SMPL (Loper et al. 2015) as vchoutas/smplx implements them:
shape blend shapes -> rest joints -> pose blend shapes -> kinematic chain -> skinning.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from eft_jax.body import joint_sets
from eft_jax.geometry import axis_angle_to_rotmat


class _JointSource:
    """What BodyModel and its joints-only view share: shape space and joint-set availability."""

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[-1]

    @property
    def has_extra_joints(self) -> bool:
        return self.J_regressor_extra is not None

    @property
    def spin49_available(self) -> np.ndarray:
        """(49,) bool: which SPIN-49 keypoints this model can produce."""
        return ~joint_sets.SPIN49_NEEDS_EXTRA | self.has_extra_joints


@struct.dataclass
class BodyModel(_JointSource):
    """Arrays of a SMPL-layout body model (V vertices, 24 joints, S shape components).

    v_template: (V, 3) rest-pose (T-pose) vertices of the mean shape, metres.
    shapedirs: (V, 3, S) shape blend shapes; betas weight them.
    posedirs: (V, 3, 207) pose-corrective blend shapes, or None when the model has none.
    J_regressor: (24, V) rest joints as linear combinations of rest vertices.
    weights: (V, 24) skinning weights; each row sums to 1.
    faces: (F, 3) triangle vertex indices.
    vertex_keypoint_ids: (11,) mesh vertices of the face and foot keypoints
        (`joint_sets.VERTEX_KEYPOINT_NAMES` order).
    J_regressor_extra: (9, V) SPIN's extra joints (`joint_sets.EXTRA_JOINT_NAMES`), or None.
    J_regressor_h36m: (17, V) Human3.6M joints, or None.
    parents: parent index of each joint, -1 for the root (static).
    kind: 'smpl' for files in SMPL's format, 'open' for the bundled open model (static).
    gender: 'neutral', 'male', 'female' or 'unknown' (static).
    source: where the arrays were read from (static, for messages and metadata).
    """

    v_template: jax.Array
    shapedirs: jax.Array
    posedirs: jax.Array | None
    J_regressor: jax.Array
    weights: jax.Array
    faces: jax.Array
    vertex_keypoint_ids: jax.Array
    J_regressor_extra: jax.Array | None = None
    J_regressor_h36m: jax.Array | None = None
    parents: tuple = struct.field(pytree_node=False, default=joint_sets.SMPL_PARENTS)
    kind: str = struct.field(pytree_node=False, default="smpl")
    gender: str = struct.field(pytree_node=False, default="unknown")
    source: str = struct.field(pytree_node=False, default="")

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    def with_shape(self, betas) -> ShapedBody:
        """The body of shape `betas` (..., S) in the rest pose; its joints regressed from its mesh."""
        rest_vertices = _blend_shapes(self, _checked_betas(self, betas))
        return ShapedBody(
            model=self,
            rest_vertices=rest_vertices,
            rest_joints=regress_joints(self.J_regressor, rest_vertices),
        )


@struct.dataclass
class ShapedBody:
    """Stage 1: a body model with its shape applied, in the rest pose.

    model: the `BodyModel`, or its `JointsModel` view (then V below is the view's K kept
        vertices).
    rest_vertices: (..., V, 3) the shaped mesh in the rest pose (template + shape blend shapes).
    rest_joints: (..., 24, 3) its joints.
    """

    model: BodyModel | JointsModel
    rest_vertices: jax.Array
    rest_joints: jax.Array

    def with_pose(self, pose) -> PosedBody:
        """Pose the shaped body: `pose` as `pose_to_rotmats` accepts it, with the shape's leading
        dimensions. No global translation: the root joint rotates about its rest position."""
        rotmats = pose_to_rotmats(pose)
        blended = self.rest_vertices
        if self.model.posedirs is not None:
            blended = blended + _pose_blend(self.model.posedirs, rotmats)
        rot, trans, joints = _kinematic_chain(rotmats, self.rest_joints, self.model.parents)
        return PosedBody(
            shaped=self,
            rotmats=rotmats,
            blended_vertices=blended,
            joint_rotations=rot,
            joint_translations=trans,
            joints=joints,
        )


@struct.dataclass
class PosedBody:
    """Stage 2: the posed skeleton, before skinning moves the vertices.

    shaped: the `ShapedBody` that was posed.
    rotmats: (..., 24, 3, 3) each joint's rotation relative to its parent (SMPL's convention).
    blended_vertices: (..., V, 3) the shaped rest mesh plus the pose blend shapes (the shaped
        rest mesh itself when the model has none): what skinning moves.
    joint_rotations, joint_translations: (..., 24, 3, 3), (..., 24, 3) the rigid map of each
        part: a rest point x of part k goes to joint_rotations[k] @ x + joint_translations[k].
    joints: (..., 24, 3) SMPL's skeleton joints, posed.
    """

    shaped: ShapedBody
    rotmats: jax.Array
    blended_vertices: jax.Array
    joint_rotations: jax.Array
    joint_translations: jax.Array
    joints: jax.Array

    def _skinned_vertices(self) -> jax.Array:
        return _skin(
            self.shaped.model.weights,
            self.joint_rotations,
            self.joint_translations,
            self.blended_vertices,
        )

    def joint_sets(self) -> BodyOutput:
        """The joint sets without the mesh (`vertices` None): with a `JointsModel` view only its
        kept vertices are skinned, which is where the joints-only path stops."""
        model = self.shaped.model
        return _joint_sets(model, self._skinned_vertices(), self.joints).replace(vertices=None)

    def skin(self) -> SkinnedBody:
        """Stage 3: linear blend skinning of the whole mesh."""
        if isinstance(self.shaped.model, JointsModel):
            raise TypeError("a joints-only view has no mesh to skin: use joint_sets()")
        return SkinnedBody(posed=self, vertices=self._skinned_vertices())


@struct.dataclass
class SkinnedBody:
    """Stage 3: the posed mesh.

    posed: the `PosedBody` that was skinned.
    vertices: (..., V, 3) the mesh after linear blend skinning.
    """

    posed: PosedBody
    vertices: jax.Array

    def joint_sets(self) -> BodyOutput:
        return _joint_sets(self.posed.shaped.model, self.vertices, self.posed.joints)


@struct.dataclass
class BodyOutput:
    """The joint sets of a posed body. Leading dimensions are those of the inputs.

    vertices: (..., V, 3), or None from `forward_joints` / `PosedBody.joint_sets`.
    joints: (..., 24, 3), SMPL's skeleton joints, posed.
    spin49: (..., 49, 3); keypoints that need the extra regressor are zero when the model lacks it
        (see `BodyModel.spin49_available`). coco17: (..., 17, 3).
    lsp14: (..., 14, 3) or None without the extra regressor.
    h36m17: (..., 17, 3) or None without the Human3.6M regressor.
    """

    vertices: jax.Array
    joints: jax.Array
    spin49: jax.Array
    coco17: jax.Array
    lsp14: jax.Array | None
    h36m17: jax.Array | None


def pose_to_rotmats(pose) -> jax.Array:
    """Accept (..., 24, 3, 3) rotation matrices, (..., 24, 3) axis-angle or (..., 72) axis-angle."""
    pose = jnp.asarray(pose)
    if pose.ndim >= 3 and pose.shape[-3:] == (24, 3, 3):
        return pose
    if pose.ndim >= 2 and pose.shape[-2:] == (24, 3):
        return axis_angle_to_rotmat(pose)
    if pose.ndim >= 1 and pose.shape[-1] == 72:
        return axis_angle_to_rotmat(pose.reshape(pose.shape[:-1] + (24, 3)))
    raise ValueError(
        "pose must have shape (..., 24, 3, 3) (rotation matrices), (..., 24, 3) or (..., 72) "
        f"(axis-angle, root first); got {pose.shape}"
    )


def _checked_betas(model: BodyModel | JointsModel, betas) -> jax.Array:
    betas = jnp.asarray(betas)
    if betas.shape[-1:] != (model.num_betas,):
        raise ValueError(
            f"betas must have shape (..., {model.num_betas}) for this model; got {betas.shape}"
        )
    return betas


def _broadcast_inputs(model: BodyModel | JointsModel, pose, betas):
    """Rotation matrices (..., 24, 3, 3) and betas (..., S) with one batch shape `...`."""
    rotmats = pose_to_rotmats(pose)
    betas = _checked_betas(model, betas)
    batch_shape = jnp.broadcast_shapes(rotmats.shape[:-3], betas.shape[:-1])
    rotmats = jnp.broadcast_to(rotmats, batch_shape + rotmats.shape[-3:])
    betas = jnp.broadcast_to(betas, batch_shape + betas.shape[-1:])
    return rotmats, betas, batch_shape


def _blend_shapes(model: BodyModel | JointsModel, betas) -> jax.Array:
    return model.v_template + jnp.einsum("vcs,...s->...vc", model.shapedirs, betas)


def regress_joints(regressor, vertices) -> jax.Array:
    """Joints as fixed linear combinations of vertices: (J, V) x (..., V, 3) -> (..., J, 3)."""
    return jnp.einsum("jv,...vc->...jc", regressor, vertices)


def _kinematic_chain(rotmats, rest_joints, parents):
    """World rotation and translation of each joint's frame, root first.

    Joint k rotates by rotmats[k] about its rest position; its frame moves with its parent's.
    Returns (rotations (..., 24, 3, 3), translations (..., 24, 3)) of the rigid maps that take a
    point of part k from the rest pose to the posed body.
    """
    world_rot = [rotmats[..., 0, :, :]]
    world_pos = [rest_joints[..., 0, :]]
    for k in range(1, len(parents)):
        p = parents[k]
        offset = rest_joints[..., k, :] - rest_joints[..., p, :]
        world_rot.append(world_rot[p] @ rotmats[..., k, :, :])
        world_pos.append(world_pos[p] + jnp.einsum("...ij,...j->...i", world_rot[p], offset))
    rot = jnp.stack(world_rot, axis=-3)
    pos = jnp.stack(world_pos, axis=-2)
    # Posed point = rot @ (x - rest_joint) + pos, i.e. translation = pos - rot @ rest_joint.
    trans = pos - jnp.einsum("...kij,...kj->...ki", rot, rest_joints)
    return rot, trans, pos


def _skin(weights, rot, trans, points):
    """Linear blend skinning: each point moves by the weight-blended rigid maps of the parts.

    The 12 entries of the blended maps are laid out component-major, (..., 12, V), and applied
    entry by entry: on the CPU this is ~7x faster than blending into (..., V, 3, 3) matrices and
    multiplying per vertex, because XLA then needs no per-vertex 3x3 products or transposes.
    """
    maps = jnp.concatenate([rot.reshape(rot.shape[:-2] + (9,)), trans], axis=-1)  # (..., 24, 12)
    blended = jnp.einsum("...kx,vk->...xv", maps, weights)  # (..., 12, V)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    rows = [
        blended[..., 3 * i, :] * x
        + blended[..., 3 * i + 1, :] * y
        + blended[..., 3 * i + 2, :] * z
        + blended[..., 9 + i, :]
        for i in range(3)
    ]
    return jnp.stack(rows, axis=-1)


def forward(model: BodyModel, pose, betas, *, chunk_size: int | None = None) -> BodyOutput:
    """Pose and shape the body.

    pose: (..., 24, 3, 3) rotation matrices or (..., 24, 3) / (..., 72) axis-angle, root first,
        each joint's rotation relative to its parent (SMPL's convention).
    betas: (..., S) shape coefficients, S = model.num_betas.
    chunk_size: bodies per step when the batch is posed in sequential chunks inside one
        computation; None picks `default_chunk_size(V)`, 0 poses the whole batch at once.
    No global translation is applied: the root joint rotates about its rest position.
    """
    rotmats, betas, batch_shape = _broadcast_inputs(model, pose, betas)
    count = math.prod(batch_shape)
    chunk_size = default_chunk_size(model.num_vertices) if chunk_size is None else chunk_size
    if not chunk_size or count <= chunk_size:
        return _forward(model, rotmats, betas)

    flat = jax.lax.map(
        lambda inputs: _forward(model, *inputs),
        (rotmats.reshape((count,) + rotmats.shape[-3:]), betas.reshape((count, -1))),
        batch_size=chunk_size,
    )
    return jax.tree.map(lambda x: x.reshape(batch_shape + x.shape[1:]), flat)


def default_chunk_size(num_vertices: int) -> int:
    """Bodies per chunk on the CPU (0: the whole batch at once, as on accelerators).

    Posing a batch materialises (batch, 12, V) blended skinning maps. On the CPU, once these pass
    ~32 MB their allocation dominates: at batch 64 the bundled model (V = 13,718, 42 MB of maps)
    ran at 2,267 bodies/s in one piece and 6,120 in chunks of 32, while SMPL (V = 6,890, 21 MB)
    ran at 9,906 in one piece and 6,555 in chunks of 32 (forward only, on 2 CPU cores; chunking
    changed forward+grad by less than the noise). So the chunk is the largest power of two whose
    maps stay within 32 MB, and smaller batches run whole.
    """
    if jax.default_backend() != "cpu":
        return 0
    budget = (32 << 20) // (4 * 12 * num_vertices)
    return 1 << max(budget.bit_length() - 1, 0)


def _forward(model: BodyModel, rotmats, betas) -> BodyOutput:
    return model.with_shape(betas).with_pose(rotmats).skin().joint_sets()


@struct.dataclass
class JointsModel(_JointSource):
    """A body model cut down to what its joints need (see `joints_model`).

    Losses that read joints and a few keypoint vertices (EFT's, SMPLify's) need the posed mesh
    only at the vertices the extra joint regressors touch (their non-zero columns) and at the
    keypoint vertices. This view keeps those K vertices (K = 920 of the bundled model's 13,718)
    and the rest joints as a linear function of betas, so that `forward_joints` skins K
    vertices instead of V and never forms the shaped mesh.

    joints_template: (24, 3) J_regressor @ v_template; joints_shapedirs: (24, 3, S) J_regressor
    @ shapedirs. v_template, shapedirs, posedirs, weights: the kept rows. vertex_keypoint_ids:
    the keypoint vertices' rows among the kept ones. J_regressor_extra / J_regressor_h36m: the
    kept columns. vertex_ids: (K,) the kept vertices' indices in the full mesh.
    """

    joints_template: jax.Array
    joints_shapedirs: jax.Array
    v_template: jax.Array
    shapedirs: jax.Array
    posedirs: jax.Array | None
    weights: jax.Array
    vertex_keypoint_ids: jax.Array
    vertex_ids: jax.Array
    J_regressor_extra: jax.Array | None = None
    J_regressor_h36m: jax.Array | None = None
    parents: tuple = struct.field(pytree_node=False, default=joint_sets.SMPL_PARENTS)
    kind: str = struct.field(pytree_node=False, default="smpl")
    gender: str = struct.field(pytree_node=False, default="unknown")
    source: str = struct.field(pytree_node=False, default="")

    def with_shape(self, betas) -> ShapedBody:
        """The kept vertices of the body of shape `betas` (..., S) in the rest pose, and its joints
        (linear in betas, never forming the shaped mesh)."""
        betas = _checked_betas(self, betas)
        rest_joints = self.joints_template + jnp.einsum(
            "jcs,...s->...jc", self.joints_shapedirs, betas
        )
        return ShapedBody(
            model=self, rest_vertices=_blend_shapes(self, betas), rest_joints=rest_joints
        )


def joints_model(model: BodyModel | JointsModel, *, include_h36m: bool = True) -> JointsModel:
    """The joints-only view of `model` (built from concrete arrays, outside `jit`).

    include_h36m=False leaves the Human3.6M regressor out (its vertices are not kept), for
    losses that read SPIN-49 / COCO-17 / LSP-14 only."""
    if isinstance(model, JointsModel):
        return model
    if isinstance(model.v_template, jax.core.Tracer):
        raise ValueError(
            "joints_model needs concrete arrays: build it outside jit and pass the view in"
        )
    as_np = lambda x: None if x is None else np.asarray(x)  # noqa: E731
    extra, h36m = (
        as_np(model.J_regressor_extra),
        as_np(model.J_regressor_h36m) if include_h36m else None,
    )
    keypoint_ids = as_np(model.vertex_keypoint_ids).astype(np.int64)
    needed = [keypoint_ids] + [
        np.nonzero(np.any(r != 0, axis=0))[0] for r in (extra, h36m) if r is not None
    ]
    ids = np.unique(np.concatenate(needed))
    rows = lambda x: None if x is None else jnp.asarray(np.asarray(x)[ids])  # noqa: E731
    columns = lambda r: None if r is None else jnp.asarray(r[:, ids])  # noqa: E731
    regressor, shapedirs = as_np(model.J_regressor), as_np(model.shapedirs)
    return JointsModel(
        joints_template=jnp.asarray(regressor @ as_np(model.v_template)),
        joints_shapedirs=jnp.asarray(np.einsum("jv,vcs->jcs", regressor, shapedirs)),
        v_template=rows(model.v_template),
        shapedirs=rows(shapedirs),
        posedirs=rows(model.posedirs),
        weights=rows(model.weights),
        vertex_keypoint_ids=jnp.asarray(np.searchsorted(ids, keypoint_ids).astype(np.int32)),
        vertex_ids=jnp.asarray(ids.astype(np.int32)),
        J_regressor_extra=columns(extra),
        J_regressor_h36m=columns(h36m),
        parents=model.parents,
        kind=model.kind,
        gender=model.gender,
        source=model.source,
    )


def forward_joints(model: BodyModel | JointsModel, pose, betas) -> BodyOutput:
    """`forward` without the mesh: the same joints, spin49, coco17, lsp14 and h36m17 (equal to
    `forward`'s to float rounding), and `vertices` None.

    With a `JointsModel` (from `joints_model`, built once outside `jit`) only the vertices the
    joint sets read are posed; a `BodyModel` is converted on the spot (so it must not be a
    traced argument of a jitted function; pass the view instead)."""
    model = joints_model(model)
    rotmats, betas, _ = _broadcast_inputs(model, pose, betas)
    return model.with_shape(betas).with_pose(rotmats).joint_sets()


def _pose_blend(posedirs, rotmats):
    eye = jnp.eye(3, dtype=rotmats.dtype)
    pose_feature = (rotmats[..., 1:, :, :] - eye).reshape(rotmats.shape[:-3] + (-1,))
    return jnp.einsum("vcp,...p->...vc", posedirs, pose_feature)


def _joint_sets(model: BodyModel | JointsModel, vertices, joints) -> BodyOutput:
    keypoints = jnp.take(vertices, model.vertex_keypoint_ids, axis=-2)
    if model.J_regressor_extra is not None:
        extra = regress_joints(model.J_regressor_extra, vertices)
    else:
        extra = jnp.zeros(
            vertices.shape[:-2] + (len(joint_sets.EXTRA_JOINT_NAMES), 3), vertices.dtype
        )
    source = jnp.concatenate([joints, keypoints, extra], axis=-2)
    has_extra = model.J_regressor_extra is not None
    return BodyOutput(
        vertices=vertices,
        joints=joints,
        spin49=jnp.take(source, joint_sets.SPIN49_SOURCE, axis=-2),
        coco17=jnp.take(source, joint_sets.coco17_source(has_extra), axis=-2),
        lsp14=jnp.take(source, joint_sets.LSP14_SOURCE, axis=-2) if has_extra else None,
        h36m17=(
            regress_joints(model.J_regressor_h36m, vertices)
            if model.J_regressor_h36m is not None
            else None
        ),
    )
