"""Pose / betas / camera-prior / view-consistency losses."""
import math

import pytest
import torch

from mmhuman_imphmr.models.losses import (CameraPriorLoss, betas_loss,
                                          camera_prior_loss, pose_loss,
                                          silhouette_loss,
                                          view_consistency_loss)
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat, rotation_y


def _rotmats(n=2):
    return axis_angle_to_rotmat(torch.randn(n, 24, 3))


def test_pose_and_betas_zero_at_target():
    rot, betas = _rotmats(), torch.randn(2, 10)
    assert pose_loss(rot, rot.clone()).item() == 0.
    assert betas_loss(betas, betas.clone()).item() == 0.


def test_pose_known_value():
    # Identity vs a rotation of pi about z on one joint: diag(-1, -1, 1), so
    # two entries differ by 2 -> squared error 8 over 24 * 9 entries.
    target = torch.eye(3).expand(1, 24, 3, 3).clone()
    pred = target.clone()
    pred[0, 3] = torch.diag(torch.tensor([-1., -1., 1.]))
    torch.testing.assert_close(pose_loss(pred, target), torch.tensor(8 / 216))


def test_betas_masked_mean_over_valid_samples_only():
    # SPIN selects the valid samples and averages over them: sample 0 has
    # error 1 on every beta, sample 1 (masked) error 10.
    target = torch.zeros(2, 10)
    pred = torch.tensor([[1.] * 10, [10.] * 10])
    loss = betas_loss(pred, target, torch.tensor([1., 0.]))
    torch.testing.assert_close(loss, torch.tensor(1.))


def test_all_masked_gives_zero_with_graph():
    pred = torch.randn(3, 10, requires_grad=True)
    loss = betas_loss(pred, torch.randn(3, 10), torch.zeros(3))
    assert loss.item() == 0.
    loss.backward()
    assert torch.all(pred.grad == 0)


def test_camera_prior_value():
    # (exp(-10 s))^2 at s = 0 is 1, at s = 0.1 is exp(-2).
    cam = torch.tensor([[0., 0., 0.], [0.1, 5., 5.]])
    torch.testing.assert_close(
        camera_prior_loss(cam), torch.tensor((1 + math.exp(-2)) / 2))


def test_camera_prior_linear_below_is_spin_above_and_tangent_below():
    # At and above s0 the value is SPIN's exp(-20 s) exactly; below it is the
    # tangent at s0: e0 * (1 - 20 (s - s0)) with e0 = exp(-20 s0), hand
    # computed here for s0 = 0 (e0 = 1) and s0 = 0.1 (e0 = exp(-2)).
    for s0, e0 in ((0., 1.), (0.1, math.exp(-2))):
        s = torch.tensor([s0 + 0.05, s0, s0 - 0.5, -100.], dtype=torch.float64)
        cam = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], 1)
        cam.requires_grad_(True)
        per_sample = [
            camera_prior_loss(cam[i:i + 1], linear_below=s0)
            for i in range(len(s))
        ]
        expected = [
            math.exp(-20 * (s0 + 0.05)), e0, e0 * (1 + 20 * 0.5),
            e0 * (1 - 20 * (-100. - s0))
        ]
        for got, want in zip(per_sample, expected):
            assert math.isclose(got.item(), want, rel_tol=1e-12)
        # Slope: -20 exp(-20 s) above s0, -20 e0 (constant) below; the two
        # agree at s0 (continuously differentiable), and s = -100, where
        # SPIN's prior overflows, has a finite gradient.
        grads = [
            torch.autograd.grad(v, cam)[0][i, 0].item()
            for i, v in enumerate(per_sample)
        ]
        assert math.isclose(
            grads[0], -20 * math.exp(-20 * (s0 + 0.05)), rel_tol=1e-12)
        for g in grads[1:]:
            assert math.isclose(g, -20 * e0, rel_tol=1e-12)
    spin = camera_prior_loss(torch.tensor([[-100., 0., 0.]]))
    assert torch.isinf(spin)  # why the option exists
    # None (the default) is SPIN's prior; with s0 = 0, scales >= 0 give
    # SPIN's value and gradient bit for bit (the same float operations), so
    # a run whose scale never drops below s0 is the same run.
    cam = torch.tensor([[0.3, 0., 0.], [-0.2, 1., 1.]])
    torch.testing.assert_close(
        camera_prior_loss(cam, linear_below=None), camera_prior_loss(cam))
    s = torch.rand(64) * 3
    cam = torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], 1)
    a = cam.clone().requires_grad_(True)
    b = cam.clone().requires_grad_(True)
    la, lb = camera_prior_loss(a), camera_prior_loss(b, linear_below=0.)
    assert torch.equal(la, lb)
    la.backward()
    lb.backward()
    assert torch.equal(a.grad, b.grad)


def test_camera_prior_loss_module_linear_below():
    # s = -5: SPIN's exp(100) overflows float32 (max ~exp(88.7)).
    cam = torch.tensor([[-5., 0., 0.]])
    assert torch.isinf(CameraPriorLoss()(cam))
    loss = CameraPriorLoss(linear_below=0.)(cam)
    # 60 * (1 - 20 * (-5)) = 6060
    assert math.isclose(loss.item(), 6060., rel_tol=1e-6)
    for bad in (float('nan'), float('-inf'), 'zero'):
        with pytest.raises(ValueError, match='linear_below'):
            CameraPriorLoss(linear_below=bad)


def test_consistency_zero_for_view_consistent_prediction():
    # View b of the same body: R_root_b = R_y(-(phi_b - phi_a)) R_root_a,
    # body pose and betas unchanged (DESIGN §3).
    rot_a, betas = _rotmats(3), torch.randn(3, 10)
    phi_a = torch.tensor([0.3, 1.0, 4.0])
    phi_b = torch.tensor([2.0, 0.1, 5.5])
    rot_b = rot_a.clone()
    rot_b[:, 0] = rotation_y(-(phi_b - phi_a)) @ rot_a[:, 0]
    lp, lb = view_consistency_loss(rot_a, betas, rot_b, betas.clone(), phi_a,
                                   phi_b)
    assert lp.item() < 1e-12 and lb.item() == 0.
    # The opposite sign of the relative rotation is not consistent.
    wrong = rot_a.clone()
    wrong[:, 0] = rotation_y(phi_b - phi_a) @ rot_a[:, 0]
    lp, _ = view_consistency_loss(rot_a, betas, wrong, betas, phi_a, phi_b)
    assert lp.item() > 1e-3


def test_consistency_stop_gradient_and_mask():
    rot_a = _rotmats(2).requires_grad_()
    rot_b = _rotmats(2).requires_grad_()
    betas_a = torch.randn(2, 10, requires_grad=True)
    betas_b = torch.randn(2, 10, requires_grad=True)
    phi = torch.zeros(2)
    lp, lb = view_consistency_loss(
        rot_a, betas_a, rot_b, betas_b, phi, phi, stop_gradient='a')
    (lp + lb).backward()
    assert rot_a.grad is None and betas_a.grad is None
    assert rot_b.grad.abs().sum() > 0
    lp, lb = view_consistency_loss(
        rot_a, betas_a, rot_b, betas_b, phi, phi, weight=torch.zeros(2))
    assert lp.item() == 0. and lb.item() == 0.
    with pytest.raises(ValueError, match='stop_gradient'):
        view_consistency_loss(
            rot_a, betas_a, rot_b, betas_b, phi, phi, stop_gradient='both')


def test_silhouette_loss_values():
    target = torch.ones(2, 8, 8)
    big = torch.full((2, 1, 8, 8), 50.)  # sigmoid = 1 (to float precision)
    assert silhouette_loss(big, target).item() < 1e-12
    # Zero logits -> 0.5 everywhere; squared error 0.25 per pixel.
    torch.testing.assert_close(
        silhouette_loss(torch.zeros(2, 1, 8, 8), target), torch.tensor(0.25))
    # A masked sample with a wrong prediction contributes nothing.
    logits = torch.stack([big[0], -big[1]])
    assert silhouette_loss(logits, target, torch.tensor([1.,
                                                         0.])).item() < 1e-12
