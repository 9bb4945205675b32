"""SilhouetteHead: output size for every rendered map size, loss, layers,
its own targets (GT camera fit, view, rasterizer backend)."""
import math

import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.heads import SilhouetteHead
from mmhuman_imphmr.models.heads.silhouette_head import fit_weak_perspective
from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           perspective_projection,
                                           weak_perspective_to_translation)


@pytest.mark.parametrize('size', [1, 2, 4, 6])
def test_output_is_128_for_every_map_size(size):
    head = SilhouetteHead(in_channels=16, channels=(8, ) * 5).eval()
    out = head(torch.randn(2, 16, size, size))
    assert out.shape == (2, 1, 128, 128)


def test_paper_layout_five_deconv_bn_relu_then_logit_conv():
    head = MODELS.build(dict(type='SilhouetteHead', in_channels=2048))
    kinds = [
        nn.ConvTranspose2d if isinstance(m, nn.ConvTranspose2d) else type(m)
        for m in head.deconv_layers
    ]
    assert kinds == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU] * 5
    deconvs = [
        m for m in head.deconv_layers if isinstance(m, nn.ConvTranspose2d)
    ]
    assert deconvs[0].in_channels == 2048
    assert all(
        d.kernel_size == (4, 4) and d.stride == (2, 2) and d.padding == (1, 1)
        for d in deconvs)
    assert head.final_layer.out_channels == 1
    with pytest.raises(ValueError, match='out_size'):
        SilhouetteHead(in_channels=8, channels=(8, ) * 4)


def test_loss_key_weight_and_mask():
    head = SilhouetteHead(in_channels=8, channels=(4, ) * 5)
    logits = torch.zeros(2, 1, 128, 128, requires_grad=True)
    target = torch.ones(2, 128, 128)
    # sigmoid(0) = 0.5 against 1: squared error 0.25 everywhere, x 30.
    losses = head.loss_by_feat(logits, target)
    assert set(losses) == {'loss_imag_silhouette'}
    torch.testing.assert_close(losses['loss_imag_silhouette'],
                               torch.tensor(7.5))
    losses = head.loss_by_feat(logits, target, torch.zeros(2), prefix='x')
    assert losses['loss_x_silhouette'].item() == 0.
    losses['loss_x_silhouette'].backward()
    assert torch.all(logits.grad == 0)


def test_gradient_reaches_the_input():
    head = SilhouetteHead(in_channels=8, channels=(4, ) * 5)
    fmap = torch.randn(2, 8, 4, 4, requires_grad=True)
    loss = head.loss_by_feat(head(fmap), torch.rand(2, 128, 128).round())
    loss['loss_imag_silhouette'].backward()
    assert fmap.grad.abs().sum() > 0


def test_fit_weak_perspective_recovers_camera():
    # 2D keypoints made with SPIN's perspective camera from a known weak
    # perspective camera: the fit must give it back (up to the weak
    # perspective approximation, small at depth 2f/(res s) ~ 50 m).
    g = torch.Generator().manual_seed(0)
    joints = 0.5 * torch.randn(2, 49, 3, generator=g)
    cam = torch.tensor([[0.9, 0.05, -0.1], [1.1, -0.2, 0.15]])
    kp = perspective_projection(joints, weak_perspective_to_translation(cam))
    kp = torch.cat([kp, torch.ones(2, 49, 1)], -1)
    fit, ok = fit_weak_perspective(joints, kp)
    assert torch.allclose(fit, cam, atol=0.01) and ok.all()
    # Too few visible keypoints -> flagged unusable (no silhouette term).
    kp[1, 3:, 2] = 0
    fit, ok = fit_weak_perspective(joints, kp)
    assert ok.tolist() == [True, False]
    assert torch.allclose(fit[0], cam[0], atol=0.01)


def test_silhouette_targets_follow_the_gt_camera_and_view(body_model_root):
    from mmhuman_imphmr.body_models import SMPL
    smpl = SMPL(model_path=body_model_root)
    head = SilhouetteHead(in_channels=8, channels=(4, ) * 5)
    # Upright body (pi about x, SPIN's mean orientation) in its rest pose,
    # 2D keypoints made with the camera (0.9, 0.2, 0): the person is shifted
    # right in the crop.
    orient = torch.tensor([[math.pi, 0., 0.]])
    out = smpl(
        global_orient=orient,
        body_pose=torch.zeros(1, 69),
        betas=torch.zeros(1, 10))
    cam = torch.tensor([[0.9, 0.2, 0.]])
    kp2d = perspective_projection(out['joints'],
                                  weak_perspective_to_translation(cam))
    targets = dict(
        rotmat=axis_angle_to_rotmat(
            torch.cat([orient, torch.zeros(1, 69)], 1).view(1, 24, 3)),
        betas=torch.zeros(1, 10),
        keypoints2d=torch.cat([kp2d, torch.ones(1, 49, 1)], -1))

    def render(phi):
        silh, ok = head.make_targets(smpl, targets, torch.tensor([phi]))
        assert ok.tolist() == [1.]
        return silh[0]

    front = render(0.)
    assert front.shape == (128, 128) and front.sum() > 100
    # The GT hips/knees (inside the body) project into the silhouette: the
    # fitted camera is the one the keypoints were made with.
    for joint in (27, 28, 26, 29):  # R/L hip, R/L knee of the 49
        u, v = ((kp2d[0, joint] + 1) * 64).long().tolist()
        assert front[v, u] == 1, joint
    # The pelvis column: about (0.2 * 0.9 + 1) * 64 = 75.5 px.
    cols = front.nonzero()[:, 1].float()
    assert abs(cols.mean() - 75.5) < 4
    # Turning by pi about the vertical axis through the pelvis mirrors the
    # silhouette about the pelvis column (weak perspective at ~50 m depth);
    # a quarter turn shows the side, narrower than the front.
    back = render(math.pi)
    mirrored = torch.zeros_like(front)
    shift = 2 * round(float(cols.mean()))
    ys, xs = front.nonzero(as_tuple=True)
    keep = (shift - xs >= 0) & (shift - xs < 128)
    mirrored[ys[keep], shift - xs[keep]] = 1
    iou = (back * mirrored).sum() / ((back + mirrored) > 0).sum()
    assert iou > 0.8
    side = render(0.5 * math.pi)
    assert side.sum() < 0.8 * front.sum()
    width = front.nonzero()[:, 1]
    side_width = side.nonzero()[:, 1]
    assert (side_width.max() - side_width.min()) < \
        0.7 * (width.max() - width.min())


def test_rasterizer_is_configurable():
    # The target renderer is a registered component built at the head's
    # output size with the crop camera scaled to it (5000 * 64 / 224).
    head = SilhouetteHead(in_channels=8, channels=(4, ) * 4, out_size=64)
    assert type(head.rasterizer).__name__ == 'MeshRasterizer'
    assert (head.rasterizer.height, head.rasterizer.width) == (64, 64)
    assert math.isclose(head.rasterizer.fx, 5000 * 64 / 224)
    from mmhuman_imphmr.renderer.pytorch3d_rasterizer import HAS_PYTORCH3D
    if not HAS_PYTORCH3D:
        # Selecting the PyTorch3D backend reaches it (and fails with its
        # install hint here, where pytorch3d has no wheel).
        with pytest.raises(ImportError, match='pytorch3d'):
            SilhouetteHead(
                in_channels=8,
                channels=(4, ) * 4,
                out_size=64,
                rasterizer=dict(type='PyTorch3DRasterizer'))
