"""2D / 3D keypoint losses: zero at the target, known values, masks."""
import torch

from mmhuman_imphmr.models.losses import (keypoint_2d_loss, keypoint_3d_loss,
                                          weighted_sample_mean)


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
