"""Tests of the positional encoding and the conditioned feature field."""
import math

import pytest
import torch

from mmhuman_imphmr.models.utils import FeatureField, PositionalEncoding


def test_positional_encoding_values():
    pe = PositionalEncoding(num_octaves=3, input_scale=0.5)
    x = torch.tensor([[0.25, -1.0, 2.0]])
    out = pe(x)
    assert out.shape == (1, 3 * 2 * 3) and pe.out_dim == 18
    # eq. 1 by hand: octave k holds sin(2^k pi s x) for the 3 coordinates,
    # then cos(...) for the 3 coordinates
    s = 0.5 * x[0]
    expected = []
    for k in range(3):
        expected += [math.sin(2**k * math.pi * float(t)) for t in s]
        expected += [math.cos(2**k * math.pi * float(t)) for t in s]
    torch.testing.assert_close(
        out[0], torch.tensor(expected), atol=1e-6, rtol=0)
    with_input = PositionalEncoding(2, include_input=True)
    assert with_input(x).shape == (1, 3 + 12) and with_input.out_dim == 15


def test_feature_field_shapes_and_paper_sizes():
    field = FeatureField(latent_dim=16, out_channels=7, hidden_dim=32)
    # L=10, L=4
    assert field.pe_points.out_dim == 60 and field.pe_dirs.out_dim == 24
    assert len(field.blocks) == 7  # 8 density layers = input layer + 7 blocks
    pts, dirs = torch.randn(3, 11, 3), torch.randn(3, 11, 3)
    sigma, feat = field(pts, dirs, torch.randn(3, 16))
    assert sigma.shape == (3, 11) and feat.shape == (3, 11, 7)
    assert (sigma < 0).any() or (sigma > 0).any()  # raw density, no ReLU here


def test_feature_field_conditioning_and_direction_scale():
    torch.manual_seed(0)
    field = FeatureField(latent_dim=16, out_channels=7, hidden_dim=32)
    pts, dirs = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    z = torch.randn(2, 16)
    s1, f1 = field(pts, dirs, z)
    s2, f2 = field(pts, dirs, z + 1)
    assert (s1 - s2).abs().max() > 1e-4 and (f1 - f2).abs().max() > 1e-4
    # directions are normalised: only their direction matters
    s3, f3 = field(pts, 3.0 * dirs, z)
    torch.testing.assert_close(f1, f3)
    torch.testing.assert_close(s1, s3)
    # density does not depend on the direction (GIRAFFE: view-dependent
    # only in the feature branch)
    s4, f4 = field(pts, -dirs, z)
    torch.testing.assert_close(s1, s4)
    assert (f1 - f4).abs().max() > 1e-5


def test_feature_field_bad_arguments():
    with pytest.raises(ValueError, match='skip_layers'):
        FeatureField(
            latent_dim=4, out_channels=4, num_layers=4, skip_layers=(3, ))
    field = FeatureField(latent_dim=4, out_channels=4, hidden_dim=8)
    with pytest.raises(ValueError, match='latent'):
        field(torch.zeros(2, 3, 3), torch.ones(2, 3, 3), torch.zeros(1, 4))


def test_encoding_period_is_why_the_box_is_needed():
    """``point_scale = 0.5``: the lowest octave is ``sin(pi x / 2)``, period
    4, and every higher octave divides it, so the raw field cannot tell ``p``
    from ``p + 4 e`` (a ghost of the body 4 units away along any axis). The
    renderer's default box (|x| <= 1.1, side 2.2 < 4) keeps only one copy:
    the density at the shifted point is zero."""
    from mmhuman_imphmr.models.utils import VolumeRenderer
    torch.manual_seed(0)
    field = FeatureField(latent_dim=8, out_channels=4, hidden_dim=16)
    z = torch.randn(1, 8)
    p = torch.rand(1, 50, 3) * 2 - 1  # inside the box
    dirs = torch.randn(1, 50, 3)
    renderer = VolumeRenderer().eval()
    for axis in range(3):
        shift = torch.zeros(3)
        shift[axis] = 4.0
        s0, f0 = field(p, dirs, z)
        s1, f1 = field(p + shift, dirs, z)
        torch.testing.assert_close(s0, s1, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(f0, f1, atol=1e-4, rtol=1e-4)
        d0 = renderer.density(s0, p)
        d1 = renderer.density(s1, p + shift)
        assert (d0 > 0).all() and (d1 == 0).all()


def test_directions_are_halved_before_the_encoding():
    """GIRAFFE's decoder divides the unit ray direction by 2 before the
    encoding, like the points: gamma(r) = [sin(2^k pi r / 2), cos(...)]."""
    field = FeatureField(latent_dim=4, out_channels=4, hidden_dim=8)
    r = torch.tensor([[0.6, 0.0, 0.8]])  # unit already
    enc = field.pe_dirs(r)
    torch.testing.assert_close(enc[0, :3], torch.sin(math.pi * r[0] / 2))
    torch.testing.assert_close(enc[0, 3:6], torch.cos(math.pi * r[0] / 2))


def test_flat_layout_with_rows_equals_the_batched_layout():
    """``rows`` picks each point's code, so evaluating any subset of the
    batched points in the flat layout must give those points' batched
    outputs (the renderer's ``skip_empty`` relies on it)."""
    torch.manual_seed(0)
    field = FeatureField(latent_dim=16, out_channels=7, hidden_dim=32)
    pts, dirs, z = torch.randn(3, 11, 3), torch.randn(3, 11,
                                                      3), torch.randn(3, 16)
    for hidden in (False, True):
        sigma, feat = field(pts, dirs, z, return_hidden=hidden)
        keep = torch.rand(3, 11) < 0.4
        rows = keep.nonzero()[:, 0]
        s_flat, f_flat = field(
            pts[keep], dirs[keep], z, return_hidden=hidden, rows=rows)
        torch.testing.assert_close(s_flat, sigma[keep])
        torch.testing.assert_close(f_flat, feat[keep])
    with pytest.raises(ValueError, match='rows'):
        field(pts[0], dirs[0], z, rows=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match='rows'):
        field(pts[0], dirs[0], z, rows=torch.zeros(11))
