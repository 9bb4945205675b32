"""Tests shared by the three necks: the agreed interface, gradients,
variants, parameter counts."""
import itertools

import pytest
import torch

from mmhuman_imphmr.models.necks import (FeatureFieldNeck, GlobalPoolNeck,
                                         PTNNeck)
from mmhuman_imphmr.registry import MODELS

C = 32  # small channel count keeps these tests at CPU speed
SMALL = {
    FeatureFieldNeck: dict(in_channels=C, hidden_dim=16, num_samples=8),
    GlobalPoolNeck: dict(in_channels=C),
    PTNNeck: dict(in_channels=C, decoder_channels=(8, 8)),
}


@pytest.mark.parametrize('cls', list(SMALL))
def test_interface_shapes_and_gradients(cls):
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).train()
    feats = torch.randn(2, C, 5, 5, requires_grad=True)
    phi = torch.rand(2, 3) * 6.28
    out = neck(feats, phi)
    assert out['latent'].shape == (6, neck.out_channels)
    if neck.view_aware:
        assert out['feature_map'].shape == (6, neck.out_channels, 4, 4)
    else:
        assert out['feature_map'] is None
    out['latent'].square().sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    # phi=None is the canonical view, one per sample
    assert neck(feats.detach())['latent'].shape == (2, neck.out_channels)


@pytest.mark.parametrize('cls', list(SMALL))
def test_rows_are_b_major_and_none_is_phi_zero(cls):
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).eval()
    feats = torch.randn(2, C, 5, 5)
    phi = torch.tensor([[0.0, 1.0, 2.5], [4.0, 0.3, 5.0]])
    with torch.no_grad():
        latent = neck(feats, phi)['latent']
        for b, v in itertools.product(range(2), range(3)):
            single = neck(feats[b:b + 1], phi[b:b + 1, v:v + 1])['latent'][0]
            torch.testing.assert_close(latent[b * 3 + v], single, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(neck(feats, None)['latent'],
                                   neck(feats, torch.zeros(2, 1))['latent'])


@pytest.mark.parametrize('cls,aggregation,use_attention', [
    (cls, agg, att) for cls in (FeatureFieldNeck, PTNNeck)
    for agg in ('dwconv', 'gap', 'conv') for att in (True, False)])
def test_aggregation_and_attention_variants(cls, aggregation, use_attention):
    cfg = dict(type=cls.__name__, aggregation=aggregation,
               use_attention=use_attention, **SMALL[cls])
    neck = MODELS.build(cfg)  # registry build, as configs do
    assert neck.aggregation.mode == aggregation
    assert any(n.startswith('attention.') for n, _ in
               neck.named_parameters()) == use_attention
    out = neck(torch.randn(2, C, 5, 5), torch.rand(2, 3))
    assert out['latent'].shape == (6, C)


def test_feature_field_neck_map_sizes():
    for size in (1, 2, 6):
        neck = FeatureFieldNeck(map_size=size, **SMALL[FeatureFieldNeck])
        out = neck(torch.randn(1, C, 3, 3), torch.rand(1, 2))
        assert out['feature_map'].shape == (2, C, size, size)
        assert out['latent'].shape == (2, C)


def test_global_pool_neck_has_no_field_or_renderer():
    neck = GlobalPoolNeck(in_channels=C)
    names = [n for n, _ in neck.named_parameters()]
    assert names and all(n.startswith('attention.') for n in names), names
    assert sum(p.numel() for p in GlobalPoolNeck(C, use_attention=False)
               .parameters()) == 0
    feats = torch.randn(2, C, 5, 5)
    out = GlobalPoolNeck(C, use_attention=False)(feats, torch.rand(2, 3))
    # plain GAP, repeated over the 3 views (b-major)
    expected = feats.mean((2, 3)).repeat_interleave(3, dim=0)
    torch.testing.assert_close(out['latent'], expected)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_at_2048(capsys):
    necks = {cls.__name__: cls(in_channels=2048)
             for cls in (FeatureFieldNeck, GlobalPoolNeck, PTNNeck)}
    counts = {name: _count(neck) for name, neck in necks.items()}
    with capsys.disabled():
        print('\nneck parameters at in_channels=2048:', counts)
    # hand count from the documented architecture (Linear: in*out + out)
    def lin(i, o):
        return i * o + o
    attention = 2 * 7 * 7 + 2  # conv without bias + BatchNorm(1)
    field = (lin(60, 128) + lin(2048, 128) + 7 * lin(128, 128) + lin(2048, 128) +
             lin(60, 128) + lin(128, 1) + lin(128, 128) + lin(2048, 128) +
             lin(24, 128) + lin(128, 2048))
    dwconv = 2048 * 16 + 2048
    assert counts['FeatureFieldNeck'] == attention + field + dwconv
    assert counts['GlobalPoolNeck'] == attention
    ptn = (lin(2048, 256 * 8) + (256 * 128 * 64 + 128) + (128 * 2048 + 2048))
    assert counts['PTNNeck'] == attention + ptn + dwconv


def test_late_projection_is_exact():
    """Rendering is a weighted sum and ``feat_out`` is affine, so projecting
    after rendering (bias weighted by the opacity) must equal the per-sample
    read-out; same weights, eval mode (no noise)."""
    torch.manual_seed(0)
    early = FeatureFieldNeck(late_projection=False,
                             **SMALL[FeatureFieldNeck]).eval()
    late = FeatureFieldNeck(late_projection=True, **SMALL[FeatureFieldNeck]).eval()
    late.load_state_dict(early.state_dict())
    with torch.no_grad():  # make the bias matter
        early.field.feat_out.bias.normal_()
        late.field.feat_out.bias.copy_(early.field.feat_out.bias)
    feats, phi = torch.randn(2, C, 5, 5), torch.rand(2, 3) * 6.28
    a, b = early(feats, phi), late(feats, phi)
    torch.testing.assert_close(a['feature_map'], b['feature_map'], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a['latent'], b['latent'], atol=1e-5, rtol=1e-4)
