"""Per-joint angle limits of SMPL's 23 non-root joints, for sampling plausible random poses.

Each joint's rotation (relative to its parent, SMPL's frame at the T-pose: x = the body's left,
y up, z forward) is written as three intrinsic Euler angles in the joint's `EULER_ORDER`
("XYZ": R = Rx(a) Ry(b) Rz(c)); `euler_to_rotmat` builds it. For the arm chain the order is
"YZX": the bone points along x, so Rx is its twist, Rz raises or lowers it and Ry swings it
forwards or backwards (spherical coordinates of the bone, then its twist). The middle angle of
every order stays within +-90 degrees, so the three angles of a rotation are unique.

The ranges are the normal active ranges of motion of the clinical goniometry tables (American
Academy of Orthopaedic Surgeons, "Joint Motion: Method of Measuring and Recording", 1965, as
reprinted in rehabilitation textbooks), mapped onto SMPL's axes and signs:

- hip: flexion 120 (thigh forwards: -x), extension 25, abduction 45 (left foot outwards: +z),
  adduction 20, internal / external rotation 35 / 40 about the thigh (y);
- knee: flexion 0..150 about x (the shin goes backwards: +x; the tables' 135 is active flexion,
  kneeling and deep squats reach ~150, as the crawl and get-up clips do), no hyperextension, +-10
  of tibial rotation;
- ankle: plantarflexion 45 (+x), dorsiflexion 20, +-20 inversion / eversion and toe-out;
  toes (SMPL's foot joint): extension 30 (up: -x), flexion 10;
- spine, split evenly over SMPL's three spine joints: flexion 75 in all (+x), extension 30,
  lateral bending 35 each way, axial rotation 45 each way;
- neck and head together: flexion 55, extension 50, rotation 70, lateral bending 40;
- clavicle (collar): elevation 20 (+z for the left), depression 10, protraction 15 (forward:
  -y for the left), retraction 10;
- shoulder: the arm from hanging down (-90) to overhead (+90) in elevation (z), swung up to 110
  forwards (-y for the left) and 40 backwards, twist +-80 (internal 70 / external 90);
- elbow: flexion 0..150 (the forearm forwards: -y for the left), no hyperextension, +-10
  carrying angle, forearm twist +-60 (pronation / supination 80 each, the wrist takes the rest);
- wrist: flexion 60 (palm-down hand downwards: -z for the left), extension 50, radial / ulnar
  deviation 25, twist +-30; fingers (SMPL's hand joint): +-20 curl.

A few ranges are narrowed against the tables (shoulder adduction, spine extension) so that,
combined independently, the joints rarely drive a limb into the body; `pose_sampling` rejects
the poses that still do. The right side is the mirror of the left: the same x range, the y and
z ranges negated (mirroring a rotation maps its axis-angle (x, y, z) to (x, -y, -z)).
`tests/test_mocap_poses.py` checks that the retargeted mocap frames of the hips, knees, spine and
elbows lie inside these limits (the retargeting puts more roll into the ankles and shoulders than
a body has, so those are not compared).
"""

from __future__ import annotations

import numpy as np

from eft_jax.body.joint_sets import SMPL_JOINT_NAMES

# Left and central joints: (order, ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi))) in degrees.
_LEFT_AND_CENTRAL = {
    "left_hip": ("XYZ", ((-120, 25), (-35, 40), (-20, 45))),
    "spine1": ("XYZ", ((-10, 25), (-15, 15), (-12, 12))),
    "left_knee": ("XYZ", ((0, 150), (-10, 10), (0, 0))),
    "spine2": ("XYZ", ((-10, 25), (-15, 15), (-12, 12))),
    "left_ankle": ("XYZ", ((-20, 45), (-20, 20), (-20, 20))),
    "spine3": ("XYZ", ((-10, 25), (-15, 15), (-12, 12))),
    "left_foot": ("XYZ", ((-30, 10), (0, 0), (0, 0))),
    "neck": ("XYZ", ((-30, 35), (-50, 50), (-25, 25))),
    "left_collar": ("XYZ", ((0, 0), (-15, 10), (-10, 20))),
    "head": ("XYZ", ((-20, 20), (-20, 20), (-15, 15))),
    "left_shoulder": ("YZX", ((-80, 80), (-110, 40), (-90, 90))),
    "left_elbow": ("YZX", ((-60, 60), (-150, 0), (-10, 10))),
    "left_wrist": ("YZX", ((-30, 30), (-25, 25), (-60, 50))),
    "left_hand": ("YZX", ((0, 0), (0, 0), (-20, 20))),
}


def _table():
    orders, limits = [], np.zeros((24, 3, 2))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if name == "pelvis":
            orders.append("XYZ")
            continue
        left = name.replace("right_", "left_")
        order, ranges = _LEFT_AND_CENTRAL[left]
        ranges = np.radians(np.asarray(ranges, np.float64))
        if name.startswith("right_"):
            ranges[1:] = -ranges[1:, ::-1]
        orders.append(order)
        limits[j] = ranges
    return tuple(orders), limits


EULER_ORDER, JOINT_LIMITS = _table()
"""EULER_ORDER[j]: the axis order of joint j's angles; JOINT_LIMITS (24, 3, 2): radians, [lo, hi]
of the x, y and z angle of each joint (the pelvis row is zero: the root is not limited here)."""


def _axis_rotation(axis: str, angle) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(c), np.zeros_like(c)
    rows = {
        "X": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "Y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "Z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.moveaxis(np.asarray(rows, np.float64), (0, 1), (-2, -1))


def euler_to_rotmat(angles, order: str) -> np.ndarray:
    """(..., 3) angles about x, y, z (radians) -> (..., 3, 3), composed intrinsically in `order`."""
    angles = np.asarray(angles, np.float64)
    rot = None
    for axis in order:
        step = _axis_rotation(axis, angles[..., "XYZ".index(axis)])
        rot = step if rot is None else rot @ step
    return rot


_ORDERS = sorted(set(EULER_ORDER))
_ORDER_INDEX = np.asarray([_ORDERS.index(order) for order in EULER_ORDER])


def joint_rotations(angles) -> np.ndarray:
    """(..., 24, 3) per-joint angles (x, y, z) -> (..., 24, 3, 3), each joint in its order."""
    every_order = np.stack([euler_to_rotmat(angles, order) for order in _ORDERS])
    picked = every_order[_ORDER_INDEX, ..., np.arange(24), :, :]  # (24, ..., 3, 3)
    return np.moveaxis(picked, 0, -3)
