"""SilhouetteHead: output size for every rendered map size, loss, layers."""
import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.heads import SilhouetteHead
from mmhuman_imphmr.registry import MODELS


@pytest.mark.parametrize('size', [1, 2, 4, 6])
def test_output_is_128_for_every_map_size(size):
    head = SilhouetteHead(in_channels=16, channels=(8, ) * 5).eval()
    out = head(torch.randn(2, 16, size, size))
    assert out.shape == (2, 1, 128, 128)


def test_paper_layout_five_deconv_bn_relu_then_logit_conv():
    head = MODELS.build(dict(type='SilhouetteHead', in_channels=2048))
    kinds = [type(m) for m in head.deconv_layers]
    assert kinds == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU] * 5
    deconvs = [m for m in head.deconv_layers
               if isinstance(m, nn.ConvTranspose2d)]
    assert deconvs[0].in_channels == 2048
    assert all(d.kernel_size == (4, 4) and d.stride == (2, 2) and
               d.padding == (1, 1) for d in deconvs)
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
