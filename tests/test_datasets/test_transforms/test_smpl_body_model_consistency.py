"""Flip and in-plane rotation of SMPL labels against the body model itself.

The synthetic body model's template and skinning weights are mirror-symmetric
in x (it is built from a left half and its mirror), so its 24 skeleton joints
mirror exactly. Its J_regressor_extra rows are fitted numerically and are
symmetric only to about a millimetre (measured: 0.96 mm at most, on the
midline joints MPII pelvis and H36M jaw), hence the 2 mm bound on SPIN's 49.
The licensed SMPL template is itself slightly asymmetric: there the same
checks hold to a few millimetres only.
"""
import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets.transforms import (crop_rotation_matrix,
                                                flip_keypoints3d,
                                                flip_smpl_pose,
                                                rotate_smpl_labels)
from mmhuman_imphmr.utils.constants import (J49_FLIP_PERM, NUM_OPENPOSE_JOINTS,
                                            SMPL_JOINTS_FLIP_PERM)


@pytest.fixture(scope='module')
def smpl(body_model_root):
    from mmhuman_imphmr.body_models import SMPL
    return SMPL(model_path=body_model_root, gender='neutral').eval()


def _random_params(seed: int, batch: int = 3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, generator=g),
            0.4 * torch.randn(batch, 69, generator=g),
            torch.randn(batch, 10, generator=g))


@torch.no_grad()
def test_flipped_pose_gives_mirrored_joints(smpl):
    orient, body, betas = _random_params(0)
    out = smpl(orient, body, betas)
    flipped = [
        flip_smpl_pose(o.numpy(), b.numpy()) for o, b in zip(orient, body)
    ]
    f_orient = torch.from_numpy(np.stack([f[0] for f in flipped]))
    f_body = torch.from_numpy(np.stack([f[1] for f in flipped]))
    f_out = smpl(f_orient, f_body, betas)
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    # SMPL's 24 skeleton joints: mirror in x, swap left and right.
    expected = out['smpl_joints'][:, SMPL_JOINTS_FLIP_PERM] * mirror
    torch.testing.assert_close(
        f_out['smpl_joints'], expected, atol=1e-4, rtol=0)
    # SPIN's 49 (incl. J_regressor_extra and vertex joints), and the 24 GT
    # joints through the very function the transform applies to labels.
    expected49 = out['joints'][:, J49_FLIP_PERM] * mirror
    torch.testing.assert_close(f_out['joints'], expected49, atol=2e-3, rtol=0)
    gt24 = out['joints'][0, NUM_OPENPOSE_JOINTS:].numpy()
    torch.testing.assert_close(
        torch.from_numpy(flip_keypoints3d(gt24)),
        f_out['joints'][0, NUM_OPENPOSE_JOINTS:],
        atol=2e-3,
        rtol=0)


@torch.no_grad()
def test_rotated_global_orient_moves_joints_like_rotated_labels(smpl):
    orient, body, betas = _random_params(1, batch=1)
    transl = torch.tensor([[0.1, -0.2, 5.0]])
    out = smpl(orient, body, betas, transl=transl)
    kp3d = out['joints'][0, NUM_OPENPOSE_JOINTS:].numpy()  # camera frame
    angle = 37.0
    new_orient, new_kp3d = rotate_smpl_labels(angle, orient[0].numpy(), kp3d)
    new_out = smpl(torch.from_numpy(new_orient)[None], body, betas)
    # SMPL turns the body about its root joint J0 (smpl_joints[:, 0], the
    # rest-pose pelvis of these betas, which global orient does not move);
    # the labels turn about the camera origin. Same rotation, so the joints
    # agree once each set is expressed relative to its own root joint.
    root_before = out['smpl_joints'][0, 0].numpy()  # includes transl
    r = crop_rotation_matrix(angle)
    expected = new_kp3d[:, :3] - r @ root_before
    got = (new_out['joints'][0, NUM_OPENPOSE_JOINTS:] -
           new_out['smpl_joints'][0, 0]).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # And it is a real rotation of the body (not the identity).
    assert np.abs(got - (kp3d - root_before)).max() > 0.05
