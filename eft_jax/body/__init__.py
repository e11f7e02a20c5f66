"""Body models with SMPL's layout: the bundled open model and official SMPL files.

import eft_jax.body as body
model = body.load()                      # bundled open model (no SMPL file needed)
model = body.load("SMPL_NEUTRAL.pkl")    # official SMPL, same code paths
out = body.forward(model, pose, betas)   # out.vertices, out.joints, out.spin49, out.coco17, ...
view = body.joints_model(model)          # once, outside jit: only what joints need
out = body.forward_joints(view, pose, betas)   # same joint sets, no mesh (vertices None)
shaped = model.with_shape(betas)         # the stages: ShapedBody -> PosedBody -> SkinnedBody
skinned = shaped.with_pose(rotmats).skin()     # skinned.vertices, skinned.joint_sets()
"""

from eft_jax.body.joint_sets import (
    COCO17_NAMES,
    EXTRA_JOINT_NAMES,
    H36M17_NAMES,
    LSP14_NAMES,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SPIN49_NAMES,
    VERTEX_KEYPOINT_NAMES,
)
from eft_jax.body.loading import BodyModelFileError, load, open_model_metadata
from eft_jax.body.model import (
    BodyModel,
    BodyOutput,
    JointsModel,
    PosedBody,
    ShapedBody,
    SkinnedBody,
    forward,
    forward_joints,
    joints_model,
    pose_to_rotmats,
)
from eft_jax.body.smpl_file import SmplFileError, read_smpl_file

__all__ = [
    "BodyModel",
    "BodyModelFileError",
    "BodyOutput",
    "COCO17_NAMES",
    "EXTRA_JOINT_NAMES",
    "H36M17_NAMES",
    "JointsModel",
    "LSP14_NAMES",
    "PosedBody",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SPIN49_NAMES",
    "ShapedBody",
    "SkinnedBody",
    "SmplFileError",
    "VERTEX_KEYPOINT_NAMES",
    "forward",
    "forward_joints",
    "joints_model",
    "load",
    "open_model_metadata",
    "pose_to_rotmats",
    "read_smpl_file",
]
