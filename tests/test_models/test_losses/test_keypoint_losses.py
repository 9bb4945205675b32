"""2D / 3D keypoint losses: zero at the target, known values, masks."""
import pytest
import torch
from scipy.spatial.transform import Rotation

from mmhuman_imphmr.models.losses import (keypoint_2d_loss, keypoint_3d_loss,
                                          rotation_aligned_keypoint_3d_loss,
                                          weighted_sample_mean)
from mmhuman_imphmr.registry import MODELS


def _kp2d(n=3):
    target = torch.rand(n, 49, 3) * 2 - 1
    target[..., 2] = 1.
    return target


def test_weighted_sample_mean_all_masked_is_zero_with_graph():
    err = torch.rand(4, 5, requires_grad=True)
    loss = weighted_sample_mean(err, torch.zeros(4))
    assert loss.item() == 0.
    loss.backward()
    assert torch.all(err.grad == 0)


def test_empty_batch_gives_zero():
    pred = torch.zeros(0, 49, 2, requires_grad=True)
    loss = keypoint_2d_loss(pred, torch.zeros(0, 49, 3), torch.zeros(0))
    assert loss.item() == 0.
    loss.backward()


def test_2d_zero_when_prediction_equals_target():
    target = _kp2d()
    assert keypoint_2d_loss(target[..., :2].clone(), target).item() == 0.


def test_2d_known_value_and_openpose_split():
    # One sample, every GT joint off by 0.1 in x, every OpenPose joint off by
    # 1.0: with SPIN's default openpose_weight = 0 only the 24 GT joints
    # count, and the mean runs over all 49 * 2 coordinates (SPIN's .mean()),
    # so the loss is 24 * 0.01 / 98.
    target = torch.zeros(1, 49, 3)
    target[..., 2] = 1.
    pred = torch.zeros(1, 49, 2)
    pred[:, :25, 0] = 1.0
    pred[:, 25:, 0] = 0.1
    expected = 24 * 0.01 / 98
    torch.testing.assert_close(
        keypoint_2d_loss(pred, target), torch.tensor(expected))
    # openpose_weight = 1 adds 25 * 1.0 / 98.
    torch.testing.assert_close(
        keypoint_2d_loss(pred, target, openpose_weight=1.),
        torch.tensor(expected + 25 / 98))


def test_2d_confidence_zero_joint_is_ignored():
    target = _kp2d(1)
    pred = target[..., :2].clone()
    pred[0, 30] += 5.
    target[0, 30, 2] = 0.
    assert keypoint_2d_loss(pred, target).item() == 0.


def test_2d_masked_sample_contributes_nothing():
    target = _kp2d(2)
    pred = target[..., :2].clone()
    pred[1] += 3.
    target[1, :, :2] = float('nan')  # garbage label of an unlabelled sample
    loss = keypoint_2d_loss(
        pred.requires_grad_(), target, weight=torch.tensor([1., 0.]))
    assert loss.item() == 0.
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def _kp3d(n=2):
    target = torch.randn(n, 24, 4)
    target[..., 3] = 1.
    return target


def test_3d_zero_when_prediction_equals_target_49_and_24_layouts():
    target = _kp3d()
    pred49 = torch.cat([torch.randn(2, 25, 3), target[..., :3]], dim=1)
    assert keypoint_3d_loss(pred49, target).item() == 0.
    assert keypoint_3d_loss(target[..., :3].clone(), target).item() == 0.


def test_3d_is_translation_invariant_by_pelvis_alignment():
    target = _kp3d()
    pred = target[..., :3] + torch.tensor([1., -2., 3.])
    assert keypoint_3d_loss(pred, target).item() < 1e-10


def test_3d_known_value():
    # Target all zero; the prediction moves one non-hip joint (index 0) by
    # (0, 0, 1): pelvis (mean of joints 2 and 3) is unchanged, so the only
    # error is 1 on one of 24 * 3 coordinates.
    target = torch.zeros(1, 24, 4)
    target[..., 3] = 1.
    pred = torch.zeros(1, 24, 3)
    pred[0, 0, 2] = 1.
    torch.testing.assert_close(
        keypoint_3d_loss(pred, target), torch.tensor(1 / 72))


def test_3d_masked_and_all_masked():
    target = _kp3d(2)
    pred = target[..., :3].clone()
    pred[1, 5] += 1.
    assert keypoint_3d_loss(pred, target, torch.tensor([1., 0.])).item() == 0.
    pred = pred.requires_grad_()
    loss = keypoint_3d_loss(pred, target, torch.zeros(2))
    assert loss.item() == 0. and loss.requires_grad
    loss.backward()
    assert torch.all(pred.grad == 0)


# Rotation-aligned 3D term (the quick start's variant of L_3d).
def _rotations(n, seed=0):
    return torch.tensor(
        Rotation.random(n, random_state=seed).as_matrix(), dtype=torch.float64)


def test_3d_rotation_aligned_is_zero_for_any_turn_and_shift():
    # A rigid motion of the target changes no articulation, so the aligned
    # error is 0 (up to float error), while the plain term sees it.
    target = _kp3d(4).double()
    rot = _rotations(4)
    pred = target[..., :3] @ rot.transpose(1, 2) + torch.randn(4, 1, 3)
    assert rotation_aligned_keypoint_3d_loss(pred, target).item() < 1e-20
    assert keypoint_3d_loss(pred, target).item() > 0.1
    pred49 = torch.cat([torch.randn(4, 25, 3).double(), pred], dim=1)
    assert rotation_aligned_keypoint_3d_loss(pred49, target).item() < 1e-20


def test_3d_rotation_aligned_known_value_from_scipy():
    # Expected value from an independent solver: scipy's align_vectors finds
    # the rotation minimising the confidence-weighted squared residual of the
    # pelvis-centred joints; the loss is that residual's mean over the 72
    # coordinates. Half the joints get confidence 0.5 to check the weights.
    torch.manual_seed(0)
    target = _kp3d(3).double()
    target[:, ::2, 3] = 0.5
    pred = target[..., :3] @ _rotations(3, 1).transpose(1, 2) + \
        0.2 * torch.randn(3, 24, 3, dtype=torch.float64)
    expected = []
    for p, t in zip(pred, target):
        # Pelvis: the mean of the hips, GT joints 2 (right) and 3 (left).
        pc = p - (p[2] + p[3]) / 2
        tc = t[:, :3] - (t[2, :3] + t[3, :3]) / 2
        rot, _ = Rotation.align_vectors(
            tc.numpy(), pc.numpy(), weights=t[:, 3].numpy())
        res = tc.numpy() - rot.apply(pc.numpy())
        expected.append((t[:, 3:].numpy() * res**2).sum() / 72)
    torch.testing.assert_close(
        rotation_aligned_keypoint_3d_loss(pred, target),
        torch.tensor(sum(expected) / 3, dtype=torch.float64))


def test_3d_rotation_aligned_does_not_accept_a_mirror_image():
    # Kabsch without the det fix would return a reflection and score the
    # mirrored body (left and right swapped) as perfect.
    target = _kp3d(2).double()
    mirror = target[..., :3] * torch.tensor([-1., 1., 1.], dtype=torch.float64)
    assert rotation_aligned_keypoint_3d_loss(mirror, target).item() > 1e-3


def test_3d_rotation_aligned_gradient_is_that_of_the_aligned_error():
    # The rotation is computed without gradient; the envelope theorem says
    # the gradient is still that of the full function (rotation recomputed
    # at every point). Central finite differences of the full function,
    # float64, agree.
    torch.manual_seed(1)
    target = _kp3d(2).double()
    pred = (target[..., :3] @ _rotations(2, 2).transpose(1, 2) +
            0.3 * torch.randn(2, 24, 3, dtype=torch.float64)).requires_grad_()
    rotation_aligned_keypoint_3d_loss(pred, target).backward()
    eps = 1e-6
    numeric = torch.zeros_like(pred)
    with torch.no_grad():
        for idx in [(0, 0, 0), (0, 5, 2), (1, 10, 1), (1, 2, 0), (1, 23, 2)]:
            plus, minus = pred.clone(), pred.clone()
            plus[idx] += eps
            minus[idx] -= eps
            numeric[idx] = (
                rotation_aligned_keypoint_3d_loss(plus, target) -
                rotation_aligned_keypoint_3d_loss(minus, target)) / (2 * eps)
            torch.testing.assert_close(
                pred.grad[idx], numeric[idx], rtol=1e-5, atol=1e-9)


def test_3d_rotation_aligned_masks_and_nan_placeholders():
    target = _kp3d(2)
    pred = target[..., :3].clone()
    target[1, :, :3] = float('nan')  # an unlabelled sample's placeholder
    pred = pred.requires_grad_()
    loss = rotation_aligned_keypoint_3d_loss(pred, target,
                                             torch.tensor([1., 0.]))
    assert loss.item() < 1e-10
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    loss = rotation_aligned_keypoint_3d_loss(pred, target, torch.zeros(2))
    assert loss.item() == 0. and loss.requires_grad


def test_3d_rotation_aligned_module_and_bad_shape():
    loss = MODELS.build(
        dict(type='RotationAlignedKeypoint3DLoss', loss_weight=300.))
    target = _kp3d(2)
    pred = target[..., :3] + 0.1
    pred[0, 7] += 1.
    torch.testing.assert_close(
        loss(pred, target),
        300. * rotation_aligned_keypoint_3d_loss(pred, target))
    with pytest.raises(ValueError, match=r'\[N, 24, 4\]'):
        loss(pred, target[..., :3])


def test_3d_rotation_aligned_non_finite_prediction_gives_non_finite_loss():
    # A diverged network (lr too high) once made the SVD raise LinAlgError
    # from inside torch; the loss must instead come out non-finite, so that
    # the runner's non-finite-loss check names the term and the batch.
    target = _kp3d(2)
    pred = target[..., :3].clone()
    pred[0, 4] = float('inf')
    pred[1, 0] = float('nan')
    loss = rotation_aligned_keypoint_3d_loss(pred, target)
    assert not torch.isfinite(loss)
