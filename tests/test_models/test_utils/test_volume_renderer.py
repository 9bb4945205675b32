"""Tests of VolumeRenderer: closed forms, the view convention, modes, the
density read-out and the box."""
import math

import pytest
import torch

from mmhuman_imphmr.models.utils import FeatureField, VolumeRenderer

# GIRAFFE's camera, restated here on purpose: the oracles below are written
# independently of the package (its values live in utils/constants.py).
RADIUS, FOV, NEAR, FAR = 2.732, 49.13, 0.5, 6.0
# The analytic fields below return a density, not a raw value: relu with no
# shift passes a non-negative density through unchanged, so the closed forms
# hold. No box unless a test asks for it.
EXACT = dict(density_activation='relu', density_bias=0., bound=None)


def gt_pixel(p, phi, map_size, radius=RADIUS, fov=FOV):
    """Where the camera of view ``phi`` sees ``p``, written independently of
    the package: DESIGN §3 says it is where the canonical camera (at
    ``(0, 0, -radius)``, OpenCV axes) sees ``R_y(-phi) p``, projected with the
    pinhole ``x / z / tan(fov / 2)`` onto ``[-1, 1]`` and then to pixel units
    (column from x, row from y, pixel k spanning ``[k, k + 1)``)."""
    c, s = math.cos(phi), math.sin(phi)
    # R_y(-phi) = [[c, 0, -s], [0, 1, 0], [s, 0, c]]
    q = (c * p[0] - s * p[2], p[1], s * p[0] + c * p[2] + radius)
    half = math.tan(math.radians(fov) / 2)
    u, v = q[0] / q[2] / half, q[1] / q[2] / half
    return (v + 1) / 2 * map_size, (u + 1) / 2 * map_size  # (row, col)


def blob_field(centre, radius=0.3, peak=1.0):
    """Isotropic, compactly supported density ``peak relu(1 - d^2/radius^2)``
    around ``centre`` with a constant feature 1 (compact so that the last,
    1e10-long interval sees exactly zero density)."""
    centre = torch.as_tensor(centre, dtype=torch.float32)

    def field(points, dirs):
        d2 = ((points - centre)**2).sum(-1)
        sigma = peak * torch.relu(1 - d2 / radius**2)
        return sigma, torch.ones_like(sigma).unsqueeze(-1)

    return field


def test_constant_slab_closed_form():
    """Constant sigma on a slab of camera depth, constant feature.

    Samples sit at ``t_n = near + n D`` (eval mode: no jitter) and every
    interval but the last is ``delta_n = D |d|`` long. The slab is
    ``t in [t_a - D/2, t_b + D/2]`` for sample indices ``a..b`` (``k = b-a+1``
    samples), so ``sum_n sigma delta_n = sigma k D |d| = sigma L`` with
    ``L = (k D) |d|``: the chord of the ray through the slab (slab thickness in
    depth ``k D`` times the ray length per unit depth ``|d| =
    sqrt(1 + (u^2 + v^2) tan^2(fov/2))``). Since ``f = sum tau_n alpha_n f =
    (1 - prod_n (1 - alpha_n)) f`` the map must be ``(1 - exp(-sigma L)) f``.
    """
    size, ns, near, far, sigma0 = 4, 32, 0.5, 6.0, 0.7
    renderer = VolumeRenderer(
        map_size=size, num_samples=ns, near=near, far=far, **EXACT).eval()
    step = (far - near) / (ns - 1)
    a, b = 10, 17  # slab sample indices, away from the last sample
    lo, hi = near + (a - 0.5) * step, near + (b + 0.5) * step
    feat = torch.tensor([2.0, -3.0, 0.5])

    def field(points, dirs):
        depth = points[..., 2] + RADIUS  # camera depth at phi = 0
        inside = (depth >= lo) & (depth < hi)
        sigma = sigma0 * inside.float()
        return sigma, feat.expand(*sigma.shape, 3)

    fmap = renderer(field, torch.zeros(1))
    half = math.tan(math.radians(FOV) / 2)
    for i in range(size):
        for j in range(size):
            u, v = (2 * j + 1) / size - 1, (2 * i + 1) / size - 1
            length = (b - a +
                      1) * step * math.sqrt(1 + (u * u + v * v) * half * half)
            expected = (1 - math.exp(-sigma0 * length)) * feat
            torch.testing.assert_close(
                fmap[0, :, i, j], expected, rtol=1e-5, atol=1e-5)


def test_constant_everywhere_is_opaque():
    """sigma > 0 at the last sample meets the 1e10 interval: alpha = 1 there,
    so ``prod (1 - alpha) = 0`` and every pixel is exactly ``f`` (no box)."""
    renderer = VolumeRenderer(map_size=2, **EXACT).eval()
    feat = torch.tensor([1.5, -2.0])

    def field(points, dirs):
        sigma = torch.full(points.shape[:2], 0.05)
        return sigma, feat.expand(*sigma.shape, 2)

    fmap, extras = renderer(
        field, torch.tensor([0.3, 2.0]), return_extras=True)
    torch.testing.assert_close(fmap, feat.view(1, 2, 1, 1).expand(2, 2, 2, 2))
    torch.testing.assert_close(extras['opacity'], torch.ones(2, 2, 2))


@pytest.mark.parametrize('phi,size', [(0.0, 4), (math.pi / 2, 4), (math.pi, 4),
                                      (3 * math.pi / 2, 4), (0.8, 16),
                                      (4.0, 12)])
def test_blob_appears_where_gt_transform_puts_it(phi, size):
    p = (0.42, -0.31, 0.23)
    row, col = gt_pixel(p, phi, size)
    # the test is only meaningful if p does not project onto a pixel border
    assert min(row % 1, 1 - row % 1, col % 1, 1 - col % 1) > 0.1
    renderer = VolumeRenderer(map_size=size, num_samples=128, **EXACT).eval()
    _, extras = renderer(
        blob_field(p), torch.tensor([phi]), return_extras=True)
    opacity = extras['opacity'][0]
    assert opacity.max() > 0.05
    peak = divmod(int(opacity.argmax()), size)
    assert peak == (int(row), int(col)), (phi, peak, row, col)


@pytest.mark.parametrize('phi', [0.7, math.pi / 2, 4.0])
def test_view_phi_equals_canonical_view_of_rotated_point(phi):
    """Samples of view phi are ``R_y(phi)`` times those of view 0, so an
    isotropic blob at ``p`` seen at phi equals a blob at ``R_y(-phi) p`` seen
    at phi = 0, pixel by pixel."""
    p = torch.tensor([0.42, -0.31, 0.23])
    c, s = math.cos(phi), math.sin(phi)
    q = torch.tensor([c * p[0] - s * p[2], p[1], s * p[0] + c * p[2]])
    renderer = VolumeRenderer(map_size=6, num_samples=64, **EXACT).eval()
    _, at_phi = renderer(
        blob_field(p), torch.tensor([phi]), return_extras=True)
    _, canon = renderer(blob_field(q), torch.tensor([0.0]), return_extras=True)
    assert canon['opacity'].max() > 0.05
    torch.testing.assert_close(
        at_phi['opacity'], canon['opacity'], atol=2e-5, rtol=1e-4)


def _small_field():
    torch.manual_seed(0)
    field = FeatureField(latent_dim=8, out_channels=5, hidden_dim=16)
    latent = torch.randn(2, 8)
    return lambda pts, dirs: field(pts, dirs, latent)


def test_phi_zero_and_two_pi_agree():
    renderer = VolumeRenderer(map_size=3, num_samples=16).eval()
    field = _small_field()
    a = renderer(field, torch.tensor([0.0, 1.0]))
    b = renderer(field, torch.tensor([2 * math.pi, 1.0 + 2 * math.pi]))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_training_differs_from_eval_only_by_the_depth_jitter():
    field = _small_field()
    phi = torch.tensor([0.0, 2.0])
    renderer = VolumeRenderer(map_size=2, num_samples=16)
    assert renderer.density_noise_std == 0  # default: no density noise
    renderer.eval()
    e1, e2 = renderer(field, phi), renderer(field, phi)
    torch.testing.assert_close(e1, e2, rtol=0, atol=0)  # eval is deterministic
    renderer.train()
    t1, t2 = renderer(field, phi), renderer(field, phi)
    assert (t1 - t2).abs().max() > 1e-4  # stratified jitter in training
    quiet = VolumeRenderer(
        map_size=2, num_samples=16, stratified=False).train()
    torch.testing.assert_close(quiet(field, phi), e1)  # nothing else differs
    # GIRAFFE's N(0, 1) density noise (opt-in) changes training renders
    noisy = VolumeRenderer(
        map_size=2, num_samples=16, stratified=False,
        density_noise_std=1.0).train()
    assert (noisy(field, phi) - e1).abs().max() > 1e-4
    torch.testing.assert_close(noisy.eval()(field, phi), e1)


def test_density_read_out():
    """softplus(raw + bias) by default (mip-NeRF's softplus(raw - 1)),
    relu(raw + bias) as GIRAFFE; written out by hand."""
    raw = torch.tensor([-30., -1., 0., 1., 4.]).view(1, 1, 5)
    points = torch.zeros(1, 1, 5, 3)  # inside the box
    soft = VolumeRenderer().eval()
    expected = torch.log1p(torch.exp(raw - 1))
    torch.testing.assert_close(soft.density(raw, points), expected)
    assert (soft.density(raw, points) > 0).all()  # never empty, never dead
    giraffe = VolumeRenderer(density_activation='relu', density_bias=0.)
    torch.testing.assert_close(giraffe.density(raw, points), raw.clamp(min=0))
    with pytest.raises(ValueError, match='density_activation'):
        VolumeRenderer(density_activation='exp')


def _oracle_points(phi, size, num_samples):
    """Eval-mode sample points of view ``phi``, written from DESIGN §3: the
    camera sits at ``R_y(phi) (0, 0, -r)`` with axes ``R_y(phi)``; the ray of
    pixel (i, j) has camera direction ``(u_j tan, v_i tan, 1)`` through the
    pixel centre; samples at depths ``linspace(near, far)``."""
    c, s = math.cos(phi), math.sin(phi)
    rot = torch.tensor([[c, 0., s], [0., 1., 0.], [-s, 0., c]])
    origin = rot @ torch.tensor([0., 0., -RADIUS])
    half = math.tan(math.radians(FOV) / 2)
    centres = (torch.arange(size) + 0.5) / size * 2 - 1
    pts = torch.empty(size, size, num_samples, 3)
    t = torch.linspace(NEAR, FAR, num_samples)
    for i in range(size):
        for j in range(size):
            d = rot @ torch.tensor([centres[j] * half, centres[i] * half, 1.])
            pts[i, j] = origin + t[:, None] * d
    return pts  # (H, W, S, 3)


def _constant_raw(value):

    def field(points, dirs):
        raw = torch.full(points.shape[:2], value)
        return raw, torch.ones_like(raw).unsqueeze(-1)

    return field


@pytest.mark.parametrize('phi', [0.0, 0.6, math.pi / 2, 4.0])
def test_density_is_zero_outside_the_box_by_default(phi):
    renderer = VolumeRenderer(map_size=4).eval()
    assert renderer.bound == 1.1  # GIRAFFE's box [-1, 1]^3 padded by 0.1
    _, extras = renderer(
        _constant_raw(3.0), torch.tensor([phi]), return_extras=True)
    density = extras['density'][0]  # (H, W, S)
    inside = (_oracle_points(phi, 4, 32).abs() <= 1.1).all(-1)
    assert inside.any() and (~inside).any()
    assert (density[~inside] == 0).all()
    torch.testing.assert_close(
        density[inside],
        torch.full_like(density[inside], math.log1p(math.exp(2.0))))
    # the 1e10 interval after the last sample lies outside the box, so a
    # field that is dense everywhere is not made opaque by it
    assert (extras['opacity'] < 1 - 1e-3).all()


def test_box_mask_in_training_mode_uses_the_jittered_points():
    renderer = VolumeRenderer(map_size=4).train()
    seen = {}

    def field(points, dirs):
        seen['points'] = points
        return _constant_raw(3.0)(points, dirs)

    _, extras = renderer(field, torch.tensor([1.0, 2.5]), return_extras=True)
    outside = (seen['points'].abs() > 1.1).any(-1).view(2, 4, 4, 32)
    assert outside.any()
    assert (extras['density'][outside] == 0).all()
    assert (extras['density'][~outside] > 0).all()


@pytest.mark.parametrize('size', [1, 2, 4, 6])
def test_every_ray_crosses_the_box(size):
    """The box may not cut the map: for every pixel of the paper's map sizes
    (1, 2, 4, 6) and any azimuth, several samples of its ray lie inside the
    box. Geometric reason: at the origin's depth a ray is at most
    ``(1 - 1/W) tan(fov/2) r <= 1.05`` off the axis in x and in y, and a
    rotation about y keeps y and the distance to the axis (< 1.1, the radius
    of the circle inscribed in the box's horizontal section)."""
    renderer = VolumeRenderer(map_size=size).eval()
    phis = torch.linspace(0, 2 * math.pi, 13)[:-1]
    _, extras = renderer(_constant_raw(3.0), phis, return_extras=True)
    inside_count = (extras['density'] > 0).sum(-1)  # (N, H, W)
    assert inside_count.min() >= 4, inside_count.min()
    for k, phi in enumerate(phis.tolist()):  # same count from the oracle
        oracle = (_oracle_points(phi, size, 32).abs() <= 1.1).all(-1).sum(-1)
        torch.testing.assert_close(inside_count[k], oracle)
    assert (extras['opacity'] > 0.2).all()


def test_box_removes_the_ghost_of_a_periodic_field():
    """A field whose density repeats with period 4 along z (what the lowest
    octave of the point encoding does with ``point_scale = 0.5``) has a blob
    at z = -0.7 (inside the box) and its ghost at z = 3.3. The central ray
    (1 x 1 map, phi = 0) runs from z = near - r = -2.23 to far - r = 3.27,
    through both. With the box the render must equal that of the single blob
    (the ghost is outside the box); without it the ghost adds opacity."""
    centre, radius = torch.tensor([0., 0., -0.7]), 0.3

    def blob(points, period=None):
        q = points - centre
        if period is not None:
            q = torch.cat([
                q[..., :2],
                torch.remainder(q[..., 2:] + period / 2, period) - period / 2
            ], -1)
        sigma = torch.relu(1 - (q**2).sum(-1) / radius**2)
        return sigma, torch.ones_like(sigma).unsqueeze(-1)

    kw = dict(
        map_size=1,
        num_samples=128,
        density_activation='relu',
        density_bias=0.)
    phi = torch.zeros(1)
    periodic = lambda p, d: blob(p, period=4.0)  # noqa: E731
    single = lambda p, d: blob(p)  # noqa: E731
    boxed = VolumeRenderer(**kw).eval()
    free = VolumeRenderer(bound=None, **kw).eval()
    torch.testing.assert_close(boxed(periodic, phi), boxed(single, phi))
    torch.testing.assert_close(boxed(single, phi), free(single, phi))
    assert 0.05 < float(free(single, phi)) < 0.9
    assert float(free(periodic, phi)) > float(free(single, phi)) + 0.05


def test_bad_field_output_raises():
    renderer = VolumeRenderer(map_size=2, num_samples=4)
    with pytest.raises(ValueError, match='sigma'):
        renderer(lambda p, d: (p[..., 0, None], p), torch.zeros(1))
    with pytest.raises(ValueError, match='phi'):
        renderer(blob_field((0, 0, 0)), torch.zeros(1, 1))


def flat_blob_field(centre, radius=0.7, calls=None):
    """:func:`blob_field` that also takes the flat layout (``rows``), with a
    feature that depends on the ray batch (row) and the point, so that a
    point scattered to the wrong place would show; ``calls`` records the
    number of points of each call."""
    centre = torch.as_tensor(centre, dtype=torch.float32)

    def field(points, dirs, rows=None):
        if calls is not None:
            calls.append(points.shape[:-1].numel())
        if rows is None:
            rows = torch.arange(points.shape[0])[:, None].expand(
                points.shape[:-1])
        d2 = ((points - centre)**2).sum(-1)
        sigma = torch.relu(1 - d2 / radius**2) + 0.2
        feat = torch.stack([rows.float() + 1, points[..., 0], d2], -1)
        return sigma, feat

    return field


@pytest.mark.parametrize('train', [False, True])
def test_skip_empty_is_exact_and_evaluates_only_the_box(train):
    """Outside the box the density is masked to 0 (weight 0, transmittance
    factor 1), so evaluating the field only inside must give the same maps
    and extras; the field must see exactly the samples inside the box. In
    training mode both renderers draw the same jitter from the same seed."""
    kw = dict(
        map_size=4, num_samples=32, density_activation='relu', density_bias=0.)
    dense = VolumeRenderer(**kw).train(train)
    skip = VolumeRenderer(skip_empty=True, **kw).train(train)
    phi = torch.tensor([0.0, 0.8, 2.5])
    calls_dense, calls_skip = [], []
    torch.manual_seed(3)
    a, ea = dense(
        flat_blob_field((0.2, 0, 0), calls=calls_dense),
        phi,
        return_extras=True)
    torch.manual_seed(3)
    b, eb = skip(
        flat_blob_field((0.2, 0, 0), calls=calls_skip),
        phi,
        return_extras=True)
    torch.testing.assert_close(b, a)
    for key in ea:
        torch.testing.assert_close(eb[key], ea[key])
    assert calls_dense == [3 * 16 * 32]
    # the density of a sample is > 0 exactly where it is inside the box (the
    # field's density is >= 0.2 everywhere); with the depth jitter
    # (training) the count evaluated is that rounded up to a multiple of
    # SKIP_EMPTY_BUCKET (64), so that its shapes repeat
    num_inside = int((ea['density'] > 0).sum())
    assert len(calls_skip) == 1
    if train:
        assert calls_skip[0] % 64 == 0
        assert num_inside <= calls_skip[0] < num_inside + 64
    else:
        assert calls_skip[0] == num_inside
    assert 0.2 < calls_skip[0] / calls_dense[0] < 0.5


def test_skip_empty_falls_back_to_dense_under_compile(monkeypatch):
    """Data-dependent sizes break ``torch.compile`` graphs: while compiling
    the renderer must call the field in the batched layout."""
    calls = []
    skip = VolumeRenderer(map_size=2, num_samples=8, skip_empty=True).eval()
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    skip(flat_blob_field((0, 0, 0), calls=calls), torch.zeros(1))
    assert calls == [2 * 2 * 8]


def test_skip_empty_bad_arguments():
    with pytest.raises(ValueError, match='skip_empty needs a box'):
        VolumeRenderer(bound=None, skip_empty=True)
    skip = VolumeRenderer(map_size=2, num_samples=4, skip_empty=True)
    with pytest.raises(ValueError, match='inside the box'):
        skip(lambda p, d, rows=None: (p[..., :1], p), torch.zeros(1))


def test_eval_geometry_is_cached_per_phi(monkeypatch):
    """In eval mode the samples of a phi are computed once and reused (the
    depths are not jittered, so they depend on phi only); another phi, a
    changed setting or training mode computes them afresh, and the cached
    call renders the same map."""
    renderer = VolumeRenderer(map_size=2, num_samples=8, skip_empty=True)
    renderer.eval()
    calls = []
    original = renderer.ray_bundle
    monkeypatch.setattr(renderer, 'ray_bundle',
                        lambda phi: calls.append(1) or original(phi))
    field = flat_blob_field((0.1, 0, 0))
    phi = torch.tensor([0.0, 1.0])
    first = renderer(field, phi)
    torch.testing.assert_close(renderer(field, phi.clone()), first)
    assert len(calls) == 1
    other = renderer(field, torch.tensor([0.0, 2.0]))
    assert len(calls) == 2 and not torch.allclose(other, first)
    renderer.far = 5.0  # a setting is part of the key
    renderer(field, phi)
    assert len(calls) == 3
    renderer.train()
    renderer(field, phi)
    renderer(field, phi)
    assert len(calls) == 5 and not renderer._geometry_cache


@pytest.mark.parametrize('train', [False, True])
def test_ray_samples_stay_float32_under_autocast(train):
    """The ray directions come from a matrix product that bf16 autocast
    would round to 8 bits; the positional encoding multiplies the points by
    up to 2^9 pi / 2, so the samples must be computed in float32 (and equal
    the float32 ones) whatever the autocast state."""
    renderer = VolumeRenderer(map_size=4, stratified=False).train(train)
    phi = torch.tensor([0.3, 2.0])
    ref = renderer._sample_geometry(phi)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = renderer._sample_geometry(phi)
    for key in ('t', 'points', 'ray_dirs', 'ray_length'):
        assert amp[key].dtype == torch.float32, key
        torch.testing.assert_close(amp[key], ref[key], msg=key)
