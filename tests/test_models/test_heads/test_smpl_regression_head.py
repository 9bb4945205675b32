"""SMPLRegressionHead: shapes, mean-parameter init, decoding, losses."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.heads import SMPLRegressionHead
from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           perspective_projection,
                                           rot6d_to_rotmat, rotation_y,
                                           weak_perspective_to_translation)

C = 32  # small latent for speed; 2048 in the paper


def _mean_file(tmp_path):
    rng = np.random.default_rng(0)
    pose6d = rng.normal(size=144).astype(np.float32)
    path = osp.join(str(tmp_path), 'smpl_mean_params.npz')
    np.savez(
        path,
        pose=pose6d,
        shape=rng.normal(size=10).astype(np.float32),
        cam=np.array([0.9, 0.1, -0.2], np.float32))
    return path


def test_param_shapes_without_body_model():
    head = SMPLRegressionHead(in_channels=C).eval()
    out = head(torch.randn(4, C), decode=False)
    assert {
        k: tuple(v.shape)
        for k, v in out.items()
    } == dict(
        pred_pose6d=(4, 144),
        pred_rotmat=(4, 24, 3, 3),
        pred_betas=(4, 10),
        pred_cam=(4, 3))
    rot = out['pred_rotmat']
    eye = torch.eye(3).expand_as(rot)
    torch.testing.assert_close(
        rot @ rot.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match='body_model'):
        head(torch.randn(1, C))
    with pytest.raises(ValueError, match='latent'):
        head(torch.randn(1, C + 1), decode=False)


def test_spin_attribute_names_and_buffer_shapes(tmp_path):
    head = SMPLRegressionHead(
        in_channels=2048, mean_params=_mean_file(tmp_path))
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    # SPIN models/hmr.py: fc1 takes 2048 + 144 + 10 + 3 = 2205 inputs and
    # the mean parameters are (1, D) buffers.
    assert shapes == {
        'fc1.weight': (1024, 2205),
        'fc1.bias': (1024, ),
        'fc2.weight': (1024, 1024),
        'fc2.bias': (1024, ),
        'decpose.weight': (144, 1024),
        'decpose.bias': (144, ),
        'decshape.weight': (10, 1024),
        'decshape.bias': (10, ),
        'deccam.weight': (3, 1024),
        'deccam.bias': (3, ),
        'init_pose': (1, 144),
        'init_shape': (1, 10),
        'init_cam': (1, 3)
    }
    assert isinstance(head.drop1, nn.Dropout) and head.drop1.p == 0.5


def test_zero_output_layers_return_the_mean_params(tmp_path):
    # Each iteration adds decpose(x), decshape(x), deccam(x) to the current
    # estimate; with zero weights and biases these residuals are exactly 0
    # whatever x is, so after 3 iterations the estimate is still the mean.
    path = _mean_file(tmp_path)
    head = MODELS.build(
        dict(type='SMPLRegressionHead', in_channels=C,
             mean_params=path)).eval()
    for layer in (head.decpose, head.decshape, head.deccam):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    mean = np.load(path)
    out = head(torch.randn(3, C), decode=False)
    for key, name in (('pred_pose6d', 'pose'), ('pred_betas', 'shape'),
                      ('pred_cam', 'cam')):
        expected = torch.from_numpy(mean[name]).expand(3, -1)
        torch.testing.assert_close(out[key], expected)
    torch.testing.assert_close(
        out['pred_rotmat'],
        rot6d_to_rotmat(torch.from_numpy(mean['pose']).view(24, 6)).expand(
            3, -1, -1, -1))


def test_output_layers_use_spin_xavier_gain():
    # SPIN: xavier_uniform_(gain=0.01), i.e. U(-a, a) with
    # a = 0.01 * sqrt(6 / (fan_in + fan_out)); the default PyTorch init would
    # reach 1 / sqrt(1024) = 0.031, far above a (about 7e-4 for decpose).
    head = SMPLRegressionHead(in_channels=C)
    for layer in (head.decpose, head.decshape, head.deccam):
        fan_out, fan_in = layer.weight.shape
        bound = 0.01 * (6 / (fan_in + fan_out))**0.5
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > bound / 2


@pytest.fixture(scope='module')
def head(body_model_root):
    return SMPLRegressionHead(
        in_channels=C,
        mean_params=osp.join(body_model_root, 'smpl_mean_params.npz'),
        body_model=dict(type='SMPL', model_path=body_model_root)).eval()


def test_decoded_shapes_and_projection(head):
    out = head(torch.randn(2, C))
    assert {
        k: tuple(v.shape)
        for k, v in out.items()
    } == dict(
        pred_pose6d=(2, 144),
        pred_rotmat=(2, 24, 3, 3),
        pred_betas=(2, 10),
        pred_cam=(2, 3),
        pred_vertices=(2, 6890, 3),
        pred_joints=(2, 49, 3),
        pred_cam_t=(2, 3),
        pred_keypoints2d=(2, 49, 2))
    cam_t = weak_perspective_to_translation(out['pred_cam'], 5000., 224)
    torch.testing.assert_close(
        out['pred_keypoints2d'],
        perspective_projection(out['pred_joints'], cam_t, 5000., 224))
    # The body model is the decoder, not a learned part: nothing of it is
    # saved with the head.
    assert not any(k.startswith('body_model') for k in head.state_dict())


def test_camera_scale_guard(head):
    """Outside ``cam_scale_range`` the projection uses the bound.

    A negative or a huge scale must give finite keypoints (with SPIN's bare
    formula a negative ``s`` mirrors the body behind the camera, and
    ``s = 2f / res`` puts the root at depth 1 m, joints near depth 0) and no
    gradient to ``s`` from the 2D loss; inside the range the result is
    SPIN's projection exactly (checked in the test above).
    """
    rotmat = torch.eye(3).expand(3, 24, 3, 3).clone()
    betas = torch.zeros(3, 10)
    cam = torch.tensor([[-3.0, 0.1, 0.0], [500.0, 0.0, 0.2], [0.9, 0.0, 0.0]],
                       requires_grad=True)
    out = head.decode(rotmat, betas, cam)
    assert torch.isfinite(out['pred_keypoints2d']).all()
    low, high = head.cam_scale_range
    bounded = torch.tensor([[low, 0.1, 0.0], [high, 0.0, 0.2], [0.9, 0.0,
                                                                0.0]])
    torch.testing.assert_close(
        out['pred_cam_t'],
        weak_perspective_to_translation(bounded, 5000., 224))
    out['pred_keypoints2d'].square().sum().backward()
    assert cam.grad[:2, 0].abs().max() == 0  # clamped: no push further out
    assert cam.grad[2, 0] != 0 and cam.grad[:, 1:].abs().sum() > 0
    unguarded = SMPLRegressionHead(in_channels=C, cam_scale_range=None)
    assert unguarded.cam_scale_range is None
    with pytest.raises(ValueError, match='cam_scale_range'):
        SMPLRegressionHead(in_channels=C, cam_scale_range=(0.0, 1.0))


def _targets_from(preds):
    kp2d = torch.cat([
        preds['pred_keypoints2d'],
        torch.ones_like(preds['pred_keypoints2d'][..., :1])
    ], -1)
    kp3d = torch.cat([
        preds['pred_joints'][:, 25:],
        torch.ones_like(preds['pred_joints'][:, 25:, :1])
    ], -1)
    return dict(
        keypoints2d=kp2d.detach(),
        keypoints3d=kp3d.detach(),
        rotmat=preds['pred_rotmat'].detach(),
        betas=preds['pred_betas'].detach().clamp(-2.9, 2.9))


def test_losses_zero_at_target_and_keys(head):
    preds = head(torch.randn(2, C))
    preds['pred_betas'] = preds['pred_betas'].clamp(-2.9, 2.9)
    losses = head.loss_by_feat(
        preds,
        _targets_from(preds),
        prefix='reg',
        terms=('keypoints2d', 'keypoints3d', 'pose', 'betas'))
    assert set(losses) == {
        'loss_reg_keypoints2d', 'loss_reg_keypoints3d', 'loss_reg_pose',
        'loss_reg_betas'
    }
    for value in losses.values():
        assert value.item() < 1e-10


def test_loss_weights_masks_and_beta_outliers():
    # decode=False suffices for the parameter terms.
    head = SMPLRegressionHead(in_channels=C).eval()
    preds = head(torch.randn(3, C), decode=False)
    target_betas = preds['pred_betas'].detach() + 1.  # error 1 everywhere
    target_betas[2, 0] = 5.  # implausible pseudo-GT: |beta| > 3
    rot = preds['pred_rotmat'].detach().clone()
    rot[0] = rot[0] @ axis_angle_to_rotmat(torch.tensor([0., 0., 0.5]))
    targets = dict(rotmat=rot, betas=target_betas)
    losses = head.loss_by_feat(
        preds, targets, prefix='imag', terms=('pose', 'betas', 'cam'))
    # SPIN zeroes the target betas of an implausible fit: samples 0 and 1
    # have error 1 in each of their 10 betas, sample 2 is pulled to 0.
    p2 = preds['pred_betas'][2].detach()
    torch.testing.assert_close(losses['loss_imag_betas'],
                               0.06 * (20 + (p2**2).sum()) / 30)
    # 'drop' leaves that sample out instead: 0.06 * mean(1).
    drop = SMPLRegressionHead(
        in_channels=C, losses=dict(betas=dict(outliers='drop'))).eval()
    torch.testing.assert_close(
        drop.loss_by_feat(preds, targets, terms=('betas', ))['loss_reg_betas'],
        torch.tensor(0.06))
    pose_err = ((preds['pred_rotmat'][0] - rot[0])**2).sum() / (3 * 216)
    torch.testing.assert_close(losses['loss_imag_pose'], 60 * pose_err)
    expected_cam = 60 * torch.exp(-10 * preds['pred_cam'][:, 0])**2
    torch.testing.assert_close(losses['loss_imag_cam'], expected_cam.mean())

    # Masking sample 0 (the only one with a pose error) zeroes the pose loss;
    # masking every sample gives 0 with a graph.
    weights = dict(pose=torch.tensor([0., 1., 1.]), betas=torch.zeros(3))
    losses = head.loss_by_feat(
        preds, targets, weights, prefix='imag', terms=('pose', 'betas'))
    assert losses['loss_imag_pose'].item() < 1e-10
    assert losses['loss_imag_betas'].item() == 0.
    sum(losses.values()).backward()
    assert torch.isfinite(head.fc1.weight.grad).all()

    with pytest.raises(KeyError, match='keypoints2d'):
        head.loss_by_feat(preds, targets, terms=('keypoints2d', ))
    with pytest.raises(KeyError, match='unknown'):
        head.loss_by_feat(preds, targets, terms=('vertices', ))


def test_losses_are_registered_modules_a_config_can_swap():
    head = SMPLRegressionHead(
        in_channels=C,
        losses=dict(
            pose=dict(loss_weight=1.),
            cam=dict(type='Keypoint3DLoss', loss_weight=2.)))
    assert head.loss_weights['pose'] == 1.
    # Another type replaces the default loss with only its own arguments.
    assert type(head.losses['cam']).__name__ == 'Keypoint3DLoss'
    assert head.losses['cam'].loss_weight == 2.
    assert type(head.losses['keypoints2d']).__name__ == 'Keypoint2DLoss'
    with pytest.raises(KeyError, match='unknown terms'):
        SMPLRegressionHead(in_channels=C, losses=dict(vertices=dict()))
    with pytest.raises(ValueError, match='outliers'):
        SMPLRegressionHead(
            in_channels=C, losses=dict(betas=dict(outliers='clip')))
    # Loss modules hold no state: checkpoints keep their keys.
    assert not any(k.startswith('losses.') for k in head.state_dict())


def test_consistency_loss_zero_for_rotated_view():
    head = SMPLRegressionHead(in_channels=C).eval()
    pred_a = head(torch.randn(2, C), decode=False)
    phi_a, phi_b = torch.tensor([0.5, 2.0]), torch.tensor([3.0, 1.0])
    rot_b = pred_a['pred_rotmat'].clone()
    rot_b[:, 0] = rotation_y(-(phi_b - phi_a)) @ rot_b[:, 0]
    pred_b = dict(pred_rotmat=rot_b, pred_betas=pred_a['pred_betas'].clone())
    losses = head.consistency_loss(pred_a, pred_b, phi_a, phi_b)
    assert set(losses) == {'loss_cons_pose', 'loss_cons_betas'}
    assert all(v.item() < 1e-10 for v in losses.values())
    pred_b['pred_betas'] = pred_b['pred_betas'] + 1.
    losses = head.consistency_loss(pred_a, pred_b, phi_a, phi_b)
    torch.testing.assert_close(losses['loss_cons_betas'], torch.tensor(0.06))
