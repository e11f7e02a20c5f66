import numpy as np
import pytest

from eft_jax.body import SPIN49_NAMES
from eft_jax.body import joint_sets as kf

pytestmark = pytest.mark.fast_compiles


def test_tables_match_spin_preprocessing_indices():
    # SPIN datasets/preprocess/coco.py and mpii.py `joints_idx` (into the 24 ground-truth keypoints).
    np.testing.assert_array_equal(
        kf.COCO17_TO_SPIN49 - 25, [19, 20, 21, 22, 23, 9, 8, 10, 7, 11, 6, 3, 2, 4, 1, 5, 0]
    )
    np.testing.assert_array_equal(
        kf.MPII16_TO_SPIN49 - 25, [0, 1, 2, 3, 4, 5, 14, 15, 12, 13, 6, 7, 8, 9, 10, 11]
    )
    np.testing.assert_array_equal(kf.LSP14_IN_SPIN49, np.arange(25, 39))
    np.testing.assert_array_equal(kf.OPENPOSE25_TO_SPIN49, np.arange(25))
    # EFT eft/cores/jointorders.py: JOINT_MAP_SPIN49_TO_OPENPOSE18 and JOINT_MAP_SPIN24_TO_OPENPOSE18
    np.testing.assert_array_equal(
        kf.OPENPOSE18_TO_SPIN49, [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    )
    np.testing.assert_array_equal(
        kf.SPIN49_GT_FOR_OPENPOSE18 - 25,
        [19, 12, 8, 7, 6, 9, 10, 11, 2, 1, 0, 3, 4, 5, 21, 20, 23, 22],
    )


def test_names_line_up_with_spin49_names():
    for fmt in ("coco17", "mpii16", "lsp14", "openpose25", "openpose18"):
        names = kf.format_names(fmt)
        slots = kf.spin49_indices(fmt)
        assert len(names) == len(slots) == len(set(slots.tolist()))
    # left / right and joint kind agree between each native name and its SPIN slot
    for name, slot in zip(kf.COCO17_NAMES, kf.COCO17_TO_SPIN49):
        side, _, joint = name.partition("_")
        target = SPIN49_NAMES[slot].lower()
        if side in ("left", "right"):
            assert target.startswith(side) and joint in target.replace(" ", "_"), (name, target)
        else:
            assert target == "nose"
    for name, slot in zip(kf.OPENPOSE25_NAMES, kf.OPENPOSE25_TO_SPIN49):
        assert SPIN49_NAMES[slot] == "OP " + name


def test_h36m_names_agree_with_spins_evaluation_mapping():
    # H36M_TO_J14 picks, in LSP-14's order, the regressor rows whose names must be those joints.
    picked = [kf.H36M17_NAMES[row] for row in kf.H36M_TO_J14[:12]]
    assert picked == [name.lower().replace(" ", "_") for name in kf.LSP14_NAMES[:12]]


def test_to_spin49_places_joints_and_zeroes_the_rest():
    rng = np.random.default_rng(0)
    coco = np.concatenate([rng.uniform(0, 500, (2, 17, 2)), np.ones((2, 17, 1))], -1)
    coco[1, 3, 2] = 0
    spin = kf.to_spin49(coco, "coco17")
    assert spin.shape == (2, 49, 3)
    np.testing.assert_array_equal(spin[:, kf.COCO17_TO_SPIN49], coco)
    others = np.setdiff1d(np.arange(49), kf.COCO17_TO_SPIN49)
    assert np.all(spin[:, others] == 0)
    assert spin[1, SPIN49_NAMES.index("Left Ear"), 2] == 0
    np.testing.assert_array_equal(kf.from_spin49(spin, "coco17"), coco)
    with pytest.raises(ValueError, match=r"coco17 keypoints must have shape \(\.\.\., 17, 3\)"):
        kf.to_spin49(np.zeros((16, 3)), "coco17")
    with pytest.raises(ValueError, match="unknown keypoint format"):
        kf.to_spin49(np.zeros((17, 3)), "coco18")


def test_joint_validity_openpose18_as_eft_exports_it():
    coco = np.zeros((17, 3))
    coco[:, 2] = 1
    coco[2, 2] = 0  # right eye not annotated
    validity = kf.joint_validity_openpose18(kf.to_spin49(coco, "coco17"))
    # OpenPose-18: Nose, Neck, ... REye (14): COCO has no neck; the right eye is missing
    expected = np.ones(18)
    expected[1] = 0
    expected[14] = 0
    np.testing.assert_array_equal(validity, expected)
    assert validity.dtype == np.float64
    # OpenPose detections only: EFT's rule marks everything invalid; include_openpose counts them
    body25 = np.zeros((25, 3))
    body25[:, 2] = 0.7
    spin = kf.to_spin49(body25, "openpose25")
    assert kf.joint_validity_openpose18(spin).sum() == 0
    np.testing.assert_array_equal(
        kf.joint_validity_openpose18(spin, include_openpose=True), np.ones(18)
    )
