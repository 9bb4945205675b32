"""Tests of the CBAM spatial attention and the map aggregation."""
import pytest
import torch

from mmhuman_imphmr.models.utils import MapAggregation, SpatialAttention


def test_spatial_attention_matches_hand_computation():
    att = SpatialAttention(kernel_size=3, with_norm=False)
    with torch.no_grad():
        att.conv.weight.zero_()
        att.conv.weight[0, 0, 1, 1] = 1.0  # centre tap on the channel max
        att.conv.weight[0, 1, 1, 1] = -2.0  # centre tap on the channel mean
        att.conv.bias.fill_(0.5)
    x = torch.randn(2, 5, 4, 6)
    # with only centre taps the mask is sigmoid(max_c - 2 mean_c + 0.5) per
    # pixel
    mask = torch.sigmoid(
        x.amax(1, keepdim=True) - 2 * x.mean(1, keepdim=True) + 0.5)
    torch.testing.assert_close(att(x), x * mask)


def test_spatial_attention_default_shape_and_error():
    att = SpatialAttention()
    x = torch.randn(2, 8, 7, 7)
    assert att(x).shape == x.shape
    m = att.attention_map(x)
    assert m.shape == (2, 1, 7, 7) and (m > 0).all() and (m < 1).all()
    with pytest.raises(ValueError, match='Tensor'):
        att(torch.randn(8, 7, 7))


def test_map_aggregation_modes():
    fmap = torch.randn(3, 6, 4, 4)
    dw = MapAggregation(6, 4, 'dwconv')
    # depthwise: channel c is sum_hw w_c[h, w] fmap[c, h, w] + b_c
    expected = (fmap * dw.layer.weight[:, 0]).sum((2, 3)) + dw.layer.bias
    torch.testing.assert_close(dw(fmap), expected)
    assert sum(p.numel() for p in dw.parameters()) == 6 * 16 + 6
    gap = MapAggregation(6, 4, 'gap')
    torch.testing.assert_close(gap(fmap), fmap.mean((2, 3)))
    assert sum(p.numel() for p in gap.parameters()) == 0
    conv = MapAggregation(6, 4, 'conv', out_channels=9)
    assert conv(fmap).shape == (3, 9)
    assert sum(p.numel() for p in conv.parameters()) == 9 * 6 * 16 + 9
    with pytest.raises(ValueError, match='mode'):
        MapAggregation(6, 4, 'max')
    with pytest.raises(ValueError, match='Tensor'):
        dw(torch.randn(3, 6, 2, 2))


@pytest.mark.parametrize('mode', ['dwconv', 'conv'])
def test_map_aggregation_equals_its_convolution(mode):
    """'dwconv' and 'conv' are computed as a weighted sum, not by the
    nn.Conv2d that holds their parameters; both must equal that convolution
    (a kernel covering the whole map, 1 x 1 output) and give it the same
    gradients, so checkpoints and results do not depend on the shortcut."""
    torch.manual_seed(0)
    agg = MapAggregation(6, 4, mode)
    fmap = torch.randn(3, 6, 4, 4, requires_grad=True)
    out = agg(fmap)
    conv = agg.layer
    ref = torch.nn.functional.conv2d(
        fmap, conv.weight, conv.bias, groups=conv.groups).flatten(1)
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.square().sum(),
                                (fmap, conv.weight, conv.bias))
    ref_grads = torch.autograd.grad(ref.square().sum(),
                                    (fmap, conv.weight, conv.bias))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
