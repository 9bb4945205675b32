import copy

import numpy as np
import pytest
import torch
from _helpers import make_results
from mmpose.datasets.transforms import RandomFlip

from mmhuman_imphmr.datasets.transforms import (RandomFlipSMPL,
                                                flip_keypoints3d,
                                                flip_smpl_pose)
from mmhuman_imphmr.utils.constants import J49_FLIP_PERM, SMPL_JOINTS_FLIP_PERM

KEYS = ('img', 'bbox', 'bbox_center', 'keypoints', 'keypoints_visible',
        'keypoints3d', 'smpl_global_orient', 'smpl_body_pose', 'smpl_betas')


def test_flip_twice_is_identity():
    results = make_results(np.random.default_rng(0))
    original = copy.deepcopy(results)
    once = RandomFlipSMPL.flip(copy.deepcopy(results))
    assert not np.array_equal(once['img'], original['img'])
    assert not np.allclose(once['smpl_body_pose'], original['smpl_body_pose'])
    twice = RandomFlipSMPL.flip(once)
    for key in KEYS:
        np.testing.assert_allclose(
            twice[key], original[key], atol=1e-4, err_msg=key)


def test_flip_matches_mmpose_on_image_and_keypoints():
    # mmpose's RandomFlip with SPIN's 49-joint flip indices is the reference
    # for the 2D part: same pixel convention (x' = W - 1 - x), same swap.
    results = make_results(np.random.default_rng(1))
    ours = RandomFlipSMPL(prob=1.0)(copy.deepcopy(results))
    ref = copy.deepcopy(results)
    ref['flip_indices'] = J49_FLIP_PERM
    ref = RandomFlip(prob=1.0)(ref)
    for key in ('img', 'bbox', 'bbox_center', 'keypoints'):
        np.testing.assert_allclose(ours[key], ref[key], err_msg=key)
    np.testing.assert_array_equal(ours['keypoints_visible'],
                                  ref['keypoints_visible'])
    assert ours['flip'] is True


def test_flip_probability_zero_keeps_everything():
    results = make_results(np.random.default_rng(2))
    out = RandomFlipSMPL(prob=0.0)(copy.deepcopy(results))
    assert out['flip'] is False
    np.testing.assert_array_equal(out['img'], results['img'])
    with pytest.raises(ValueError):
        RandomFlipSMPL(prob=1.5)


def test_flip_pose_is_conjugation_by_mirror():
    # A mirror M = diag(-1, 1, 1) turns each joint rotation R into M R M;
    # the pose flip must give that rotation at the swapped joint.
    from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat
    rng = np.random.default_rng(3)
    orient, body = rng.normal(size=3), rng.normal(size=69)
    f_orient, f_body = flip_smpl_pose(orient, body)
    pose = torch.tensor(np.concatenate([orient, body]).reshape(24, 3))
    f_pose = torch.tensor(np.concatenate([f_orient, f_body]).reshape(24, 3))
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    expected = mirror @ axis_angle_to_rotmat(pose)[SMPL_JOINTS_FLIP_PERM] @ \
        mirror
    torch.testing.assert_close(
        axis_angle_to_rotmat(f_pose.double()), expected, atol=1e-5, rtol=0)


def test_flip_keypoints3d_rejects_wrong_joint_count():
    with pytest.raises(ValueError, match='24'):
        flip_keypoints3d(np.zeros((17, 4)))


def test_flip_must_run_before_rotation():
    results = make_results(np.random.default_rng(4))
    results['smpl_rotation_applied'] = True
    with pytest.raises(RuntimeError, match='before RotateSMPL'):
        RandomFlipSMPL(prob=1.0)(results)
