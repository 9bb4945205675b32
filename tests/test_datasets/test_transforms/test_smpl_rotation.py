import copy

import numpy as np
import pytest
from _helpers import make_results
from mmpose.datasets.transforms import TopdownAffine

from mmhuman_imphmr.datasets.transforms import RotateSMPL, crop_rotation_matrix


def _project(points: np.ndarray, focal: float, centre: np.ndarray):
    return focal * points[:, :2] / points[:, 2:3] + centre


def _similarity_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """Largest residual of the best fit dst ~ s * src + t with s > 0.

    A weak-perspective camera absorbs a positive scale and a translation but
    no in-plane rotation (s < 0 would be a 180 degree turn), so the 3D
    rotation is right exactly when this residual is 0. Returns inf when the
    best scale is not positive.
    """
    design = np.zeros((2 * len(src), 3))
    design[0::2, 0], design[0::2, 1] = src[:, 0], 1.0
    design[1::2, 0], design[1::2, 2] = src[:, 1], 1.0
    sol, *_ = np.linalg.lstsq(design, dst.reshape(-1), rcond=None)
    if sol[0] <= 0:
        return float('inf')
    return float(np.abs(design @ sol - dst.reshape(-1)).max())


@pytest.mark.parametrize('angle', [30.0, -55.0, 90.0])
def test_rotated_joints_project_onto_warped_keypoints(angle):
    rng = np.random.default_rng(0)
    height, width, focal = 240, 320, 500.0
    centre = np.array([width / 2.0, height / 2.0])
    joints = np.concatenate(
        [rng.uniform(-0.5, 0.5, (24, 2)),
         rng.uniform(4.0, 5.0, (24, 1))], 1)
    results = make_results(rng, height, width)
    results['keypoints'] = np.tile(
        _project(joints, focal, centre)[None], (1, 49 // 24 + 1, 1))[:, :49]
    results['keypoints3d'] = np.concatenate([joints, np.ones((24, 1))],
                                            1).astype(np.float32)
    results['bbox_center'] = np.array([[170.0, 110.0]], np.float32)
    results['bbox_scale'] = np.array([[150.0, 150.0]], np.float32)
    results['bbox_rotation'] = np.array([angle], np.float32)

    warped = TopdownAffine(input_size=(224, 224))(copy.deepcopy(results))
    rotated = RotateSMPL()(copy.deepcopy(results))
    proj = _project(rotated['keypoints3d'][:, :3], focal, centre)
    target = warped['transformed_keypoints'][0, :24]
    assert _similarity_residual(proj, target) < 1e-3
    # The opposite sign would leave a rotation a weak camera cannot absorb:
    # this is what makes the check above meaningful.
    wrong = joints @ crop_rotation_matrix(-angle).T
    assert _similarity_residual(_project(wrong, focal, centre), target) > 1.0


def test_rotation_rotates_global_orient_about_camera_z():
    import torch

    from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat
    results = make_results(np.random.default_rng(1))
    results['bbox_rotation'] = np.array([40.0], np.float32)
    out = RotateSMPL()(copy.deepcopy(results))
    before = axis_angle_to_rotmat(torch.tensor(results['smpl_global_orient']))
    after = axis_angle_to_rotmat(torch.tensor(out['smpl_global_orient']))
    expected = torch.tensor(crop_rotation_matrix(40.0)) @ before
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out['keypoints3d'][:, 3],
                                  results['keypoints3d'][:, 3])
    np.testing.assert_array_equal(out['smpl_body_pose'],
                                  results['smpl_body_pose'])


def test_no_rotation_is_a_no_op_and_twice_is_an_error():
    results = make_results(np.random.default_rng(2))
    out = RotateSMPL()(copy.deepcopy(results))
    np.testing.assert_array_equal(out['keypoints3d'], results['keypoints3d'])
    with pytest.raises(RuntimeError, match='twice'):
        RotateSMPL()(out)
