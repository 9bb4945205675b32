"""Tests shared by the necks: the NeckOutput interface, the template method,
view awareness, gradients, variants, parameter counts."""
import itertools
import math

import pytest
import torch

from mmhuman_imphmr.models.necks import (BaseViewNeck, FeatureFieldNeck,
                                         GlobalPoolNeck, LatentMLPNeck,
                                         NeckOutput, PTNNeck)
from mmhuman_imphmr.registry import MODELS

C = 32  # small channel count keeps these tests at CPU speed
SMALL = {
    FeatureFieldNeck: dict(in_channels=C, hidden_dim=16, num_samples=8),
    GlobalPoolNeck: dict(in_channels=C),
    LatentMLPNeck: dict(in_channels=C, hidden_dim=16),
    PTNNeck: dict(in_channels=C, decoder_channels=(8, 8)),
}
FLAGS = {  # (view_aware, renders_map, volume-renders an opacity)
    FeatureFieldNeck: (True, True, True),
    GlobalPoolNeck: (False, False, False),
    LatentMLPNeck: (False, False, False),
    PTNNeck: (True, True, False),
}


@pytest.mark.parametrize('cls', list(SMALL))
def test_interface_shapes_and_gradients(cls):
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).train()
    view_aware, renders_map, has_opacity = FLAGS[cls]
    assert (neck.view_aware, neck.renders_map) == (view_aware, renders_map)
    feats = torch.randn(2, C, 5, 5, requires_grad=True)
    phi = torch.rand(2, 3) * 6.28
    out = neck(feats, phi)
    assert isinstance(out, NeckOutput)
    assert out.latent.shape == (6, neck.out_channels)
    if renders_map:
        assert out.feature_map.shape == (6, neck.out_channels, 4, 4)
    else:
        assert out.feature_map is None
    if has_opacity:
        assert out.opacity.shape == (6, 4, 4)
        assert (out.opacity > 0).all() and (out.opacity < 1).all()
    else:
        assert out.opacity is None
    out.latent.square().sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    # phi=None is the canonical view, one per sample
    assert neck(feats.detach()).latent.shape == (2, neck.out_channels)


@pytest.mark.parametrize('cls', list(SMALL))
def test_latent_depends_on_phi_exactly_when_view_aware(cls):
    """The old interface test never looked at this: a view-aware neck must
    give another latent for another azimuth (a quarter turn shows another
    side of the field / volume); the others must not depend on phi at all."""
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).eval()
    feats = torch.randn(2, C, 5, 5).relu()
    with torch.no_grad():
        out = neck(feats, torch.tensor([[0.0, math.pi / 2]] * 2))
    latent = out.latent.view(2, 2, -1)
    change = (latent[:, 0] - latent[:, 1]).abs().amax(-1)  # per sample
    if neck.view_aware:
        assert (change > 1e-2 * latent.abs().mean()).all(), change
    else:
        assert (change == 0).all()


@pytest.mark.parametrize('cls', list(SMALL))
def test_rows_are_b_major_and_none_is_phi_zero(cls):
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).eval()
    feats = torch.randn(2, C, 5, 5)
    phi = torch.tensor([[0.0, 1.0, 2.5], [4.0, 0.3, 5.0]])
    with torch.no_grad():
        latent = neck(feats, phi).latent
        for b, v in itertools.product(range(2), range(3)):
            single = neck(feats[b:b + 1], phi[b:b + 1, v:v + 1]).latent[0]
            torch.testing.assert_close(
                latent[b * 3 + v], single, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(
            neck(feats, None).latent,
            neck(feats, torch.zeros(2, 1)).latent)


def test_template_method_order_and_checks():
    """A toy neck: the base encodes, checks and flattens phi, calls the hook
    with ``Tensor[B*V]`` azimuths and aggregates the returned map."""

    class Toy(BaseViewNeck):
        renders_map = True

        def __init__(self):
            super().__init__(in_channels=3, use_attention=False)
            self.out_channels = 3
            self.aggregation = lambda fmap: fmap.sum((2, 3))
            self.calls = []

        def forward_views(self, z_fg, phi, num_views):
            self.calls.append((z_fg.shape, phi.clone(), num_views))
            fmap = z_fg.repeat_interleave(num_views, 0)[..., None, None]
            return fmap * phi.view(-1, 1, 1, 1), None

    toy = Toy()
    feats = torch.ones(2, 3, 4, 4)
    out = toy(feats, torch.tensor([[1., 2.], [3., 4.]]))
    (shape, phi, num_views), = toy.calls
    assert shape == (2, 3) and num_views == 2
    torch.testing.assert_close(phi, torch.tensor([1., 2., 3., 4.]))
    # GAP of ones is 1, times phi, summed over the 1x1 map
    torch.testing.assert_close(out.latent, phi[:, None].expand(4, 3))
    assert out.feature_map.shape == (4, 3, 1, 1) and out.opacity is None
    with pytest.raises(ValueError, match='phi'):
        toy(feats, torch.zeros(3, 1))
    with pytest.raises(ValueError, match='feats'):
        toy(torch.ones(2, 4, 4, 4))

    class Wrong(Toy):

        def forward_views(self, z_fg, phi, num_views):
            return z_fg, None  # B rows where B*V are due, and no map

    with pytest.raises(ValueError, match='forward_views'):
        Wrong()(feats, torch.zeros(2, 2))

    class Incomplete(BaseViewNeck):
        pass

    with pytest.raises(TypeError):
        Incomplete(in_channels=3)  # forward_views is abstract


@pytest.mark.parametrize('cls,aggregation,use_attention',
                         [(cls, agg, att)
                          for cls in (FeatureFieldNeck, PTNNeck)
                          for agg in ('dwconv', 'gap', 'conv')
                          for att in (True, False)])
def test_aggregation_and_attention_variants(cls, aggregation, use_attention):
    cfg = dict(
        type=cls.__name__,
        aggregation=aggregation,
        use_attention=use_attention,
        **SMALL[cls])
    neck = MODELS.build(cfg)  # registry build, as configs do
    assert neck.aggregation.mode == aggregation
    assert any(n.startswith('attention.')
               for n, _ in neck.named_parameters()) == use_attention
    out = neck(torch.randn(2, C, 5, 5), torch.rand(2, 3))
    assert out.latent.shape == (6, C)


def test_feature_field_neck_map_sizes():
    for size in (1, 2, 6):
        neck = FeatureFieldNeck(map_size=size, **SMALL[FeatureFieldNeck])
        out = neck(torch.randn(1, C, 3, 3), torch.rand(1, 2))
        assert out.feature_map.shape == (2, C, size, size)
        assert out.opacity.shape == (2, size, size)
        assert out.latent.shape == (2, C)


def test_feature_field_neck_exposes_the_density_choices():
    neck = FeatureFieldNeck(**SMALL[FeatureFieldNeck])
    r = neck.renderer
    assert (r.density_activation, r.density_bias, r.density_noise_std,
            r.bound) == ('softplus', -1.0, 0.0, 1.1)
    giraffe = FeatureFieldNeck(
        density_activation='relu',
        density_bias=0.,
        density_noise_std=1.,
        bound=None,
        **SMALL[FeatureFieldNeck])
    r = giraffe.renderer
    assert (r.density_activation, r.density_bias, r.density_noise_std,
            r.bound) == ('relu', 0.0, 1.0, None)


def test_global_pool_neck_has_no_field_or_renderer():
    neck = GlobalPoolNeck(in_channels=C)
    names = [n for n, _ in neck.named_parameters()]
    assert names and all(n.startswith('attention.') for n in names), names
    assert sum(
        p.numel()
        for p in GlobalPoolNeck(C, use_attention=False).parameters()) == 0
    feats = torch.randn(2, C, 5, 5)
    out = GlobalPoolNeck(C, use_attention=False)(feats, torch.rand(2, 3))
    # plain GAP, repeated over the 3 views (b-major)
    expected = feats.mean((2, 3)).repeat_interleave(3, dim=0)
    torch.testing.assert_close(out.latent, expected)


def test_latent_mlp_neck_matches_its_documented_formula():
    """The docstring's MLP written out with the neck's own weights (no
    attention): the implementation must be exactly that function of GAP."""
    torch.manual_seed(0)
    neck = LatentMLPNeck(
        in_channels=C,
        hidden_dim=16,
        num_layers=4,
        skip_layer=2,
        use_attention=False).eval()
    feats = torch.randn(3, C, 5, 5)
    z = feats.mean((2, 3))
    relu = torch.relu
    h = relu(neck.fc_in(z))
    h = relu(neck.blocks[0](h))
    h = relu(neck.blocks[1](h)) + neck.skip_latent[0](z)
    h = relu(neck.blocks[2](h))
    expected = neck.fc_out(relu(neck.fc_feat(h) + neck.fc_feat_latent(z)))
    torch.testing.assert_close(neck(feats).latent, expected)
    assert not any('field' in n or 'render' in n
                   for n, _ in neck.named_parameters())
    with pytest.raises(ValueError, match='skip_layer'):
        LatentMLPNeck(in_channels=C, num_layers=4, skip_layer=3)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_at_2048(capsys):
    classes = (FeatureFieldNeck, GlobalPoolNeck, LatentMLPNeck, PTNNeck)
    counts = {cls.__name__: _count(cls(in_channels=2048)) for cls in classes}
    with capsys.disabled():
        print('\nneck parameters at in_channels=2048:', counts)

    # hand count from the documented architecture (Linear: in*out + out)
    def lin(i, o):
        return i * o + o

    attention = 2 * 7 * 7 + 2  # conv without bias + BatchNorm(1)
    latent_part = (
        lin(2048, 128) + 7 * lin(128, 128) + lin(2048, 128) + lin(128, 128) +
        lin(2048, 128) + lin(128, 2048))
    pe_part = lin(60, 128) + lin(60, 128) + lin(24, 128) + lin(128, 1)
    dwconv = 2048 * 16 + 2048
    assert counts[
        'FeatureFieldNeck'] == attention + latent_part + pe_part + dwconv
    assert counts['GlobalPoolNeck'] == attention
    # the baseline is the field's MLP without its x / r inputs, density
    # read-out and AGG (the docstring's 1,183,204)
    assert counts['LatentMLPNeck'] == attention + latent_part == 1_183_204
    ptn = (lin(2048, 256 * 8) + (256 * 128 * 64 + 128) + (128 * 2048 + 2048))
    assert counts['PTNNeck'] == attention + ptn + dwconv


def test_late_projection_is_exact():
    """Rendering is a weighted sum and ``feat_out`` is affine, so projecting
    after rendering (bias weighted by the opacity) must equal the per-sample
    read-out; same weights, eval mode (no noise)."""
    torch.manual_seed(0)
    early = FeatureFieldNeck(
        late_projection=False, **SMALL[FeatureFieldNeck]).eval()
    late = FeatureFieldNeck(
        late_projection=True, **SMALL[FeatureFieldNeck]).eval()
    late.load_state_dict(early.state_dict())
    with torch.no_grad():  # make the bias matter
        early.field.feat_out.bias.normal_()
        late.field.feat_out.bias.copy_(early.field.feat_out.bias)
    feats, phi = torch.randn(2, C, 5, 5), torch.rand(2, 3) * 6.28
    a, b = early(feats, phi), late(feats, phi)
    torch.testing.assert_close(
        a.feature_map, b.feature_map, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.latent, b.latent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.opacity, b.opacity)


@pytest.mark.parametrize('cls', list(SMALL))
def test_extra_rows_equal_a_separate_pass(cls):
    """``extra=(index, phi)`` appends the rows a separate pass at those views
    of those samples gives (eval mode: no dropout / batch statistics), and
    leaves the first B*V rows as they are without it."""
    torch.manual_seed(0)
    neck = cls(**SMALL[cls]).eval()
    feats = torch.randn(3, C, 5, 5)
    phi = torch.rand(3, 2) * 6.28
    index = torch.tensor([2, 0])
    extra_phi = torch.tensor([1.0, 4.0])
    with torch.no_grad():
        out = neck(feats, phi, extra=(index, extra_phi))
        plain = neck(feats, phi)
        separate = neck(feats[index], extra_phi[:, None])
    assert out.latent.shape[0] == 6 + 2
    torch.testing.assert_close(out.latent[:6], plain.latent)
    torch.testing.assert_close(out.latent[6:], separate.latent)
    if neck.renders_map:
        torch.testing.assert_close(out.feature_map[6:], separate.feature_map)
    if plain.opacity is not None:
        torch.testing.assert_close(out.opacity[6:], separate.opacity)
    with pytest.raises(ValueError, match='extra must be'):
        neck(feats, phi, extra=(index.float(), extra_phi))


@pytest.mark.parametrize('train', [False, True])
def test_skip_empty_is_exact(train):
    """The neck's default ``skip_empty`` evaluates the field only inside the
    box; outside it the density is masked anyway, so the outputs and every
    gradient must equal the dense path's (up to the summation order of the
    smaller matrix products: 1e-5 relative), in training mode with the same
    jitter. The field's input layer must see fewer than half of the
    samples (about 31% at the default camera)."""
    torch.manual_seed(0)
    dense = FeatureFieldNeck(
        skip_empty=False, **SMALL[FeatureFieldNeck]).train(train)
    skip = FeatureFieldNeck(**SMALL[FeatureFieldNeck]).train(train)
    assert skip.renderer.skip_empty and not dense.renderer.skip_empty
    skip.load_state_dict(dense.state_dict())
    feats, phi = torch.randn(2, C, 5, 5), torch.rand(2, 3) * 6.28
    results = []
    for neck in (dense, skip):
        seen = []
        hook = neck.field.fc_points.register_forward_hook(
            lambda mod, args, out: seen.append(args[0].shape[:-1].numel()))
        x = feats.clone().requires_grad_()
        torch.manual_seed(1)
        out = neck(x, phi)
        (out.latent.square().sum() + out.opacity.sum()).backward()
        hook.remove()
        grads = [p.grad for p in neck.parameters()]
        results.append((out, x.grad, grads, seen))
    (a, ga, pa, seen_a), (b, gb, pb, seen_b) = results
    tol = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.latent, a.latent, **tol)
    torch.testing.assert_close(b.feature_map, a.feature_map, **tol)
    torch.testing.assert_close(b.opacity, a.opacity, **tol)
    torch.testing.assert_close(gb, ga, **tol)
    for x, y in zip(pb, pa):
        if y is None:
            assert x is None
        else:
            torch.testing.assert_close(x, y, **tol)
    assert seen_a == [6 * 16 * 8]
    assert len(seen_b) == 1 and 0 < seen_b[0] < 0.5 * seen_a[0]
