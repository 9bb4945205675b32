"""Tests of PTNNeck's view transform against the DESIGN §3 convention."""
import math

import pytest
import torch

from mmhuman_imphmr.models.necks import PTNNeck

RADIUS, FOV = 2.732, 49.13


def gt_pixel(p, phi, size, projection):
    """Pixel (row, col) where view ``phi`` shows a point ``p``: the canonical
    camera's view of ``R_y(-phi) p`` (DESIGN §3), projected orthographically
    (``[-1, 1]`` cube onto the map) or with the pinhole at distance RADIUS
    and fov FOV. Written independently of the package."""
    c, s = math.cos(phi), math.sin(phi)
    q = (c * p[0] - s * p[2], p[1], s * p[0] + c * p[2])  # R_y(-phi) p
    if projection == 'perspective':
        half = math.tan(math.radians(FOV) / 2)
        u, v = q[0] / (q[2] + RADIUS) / half, q[1] / (q[2] + RADIUS) / half
    else:
        u, v = q[0], q[1]
    return int((v + 1) / 2 * size), int((u + 1) / 2 * size)


@pytest.mark.parametrize('projection', ['orthographic', 'perspective'])
@pytest.mark.parametrize('phi', [0.0, math.pi / 2, -math.pi / 2, math.pi])
def test_hot_voxel_moves_by_minus_phi(projection, phi):
    neck = PTNNeck(
        in_channels=4, decoder_channels=(2, 2), projection=projection)
    volume = torch.zeros(1, 1, 4, 4, 4)  # axes (z, y, x)
    # an interior voxel: perspective rays through the border columns leave
    # the cube before reaching the far half, so an edge voxel may be clipped
    # voxel centre (x, y, z) = (0.25, -0.25, -0.25)
    volume[0, 0, 1, 1, 2] = 1.0
    fmap = neck.project(volume, torch.tensor([phi]))[0, 0]
    peak = divmod(int(fmap.argmax()), 4)
    # phi = pi/2 and -pi/2 put it in different columns (2 vs 1): the sign
    # matters
    assert peak == gt_pixel((0.25, -0.25, -0.25), phi, 4, projection)
    assert fmap.max() > 0.3  # perspective cells interpolate between voxels
    if projection == 'orthographic':
        # right angles resample voxel centres: the value is carried exactly
        assert fmap.max() == 1.0 and (fmap > 0).sum() == 1


def test_orthographic_quarter_turn_is_an_index_rotation():
    """At phi = pi/2 a canonical point (x, y, z) is seen at R_y(-pi/2)(x, y, z)
    = (-z, y, x): view column w shows canonical z index 3 - w, view row h is
    y index h, and the view's depth runs along canonical x, which the max
    removes. So map[c, h, w] = max_x volume[c, 3 - w, h, x]."""
    torch.manual_seed(0)
    neck = PTNNeck(
        in_channels=4, decoder_channels=(2, 2), projection='orthographic')
    volume = torch.randn(2, 3, 4, 4, 4)
    fmap = neck.project(volume, torch.full((2, ), math.pi / 2))
    expected = volume.amax(-1).flip(2).transpose(2, 3)  # (N, C, y->h, 3-z->w)
    torch.testing.assert_close(fmap, expected)
    # phi = 0 is the plain max over depth
    torch.testing.assert_close(
        neck.project(volume, torch.zeros(2)), volume.amax(2))


def test_generated_volume_shape_and_bad_arguments():
    neck = PTNNeck(in_channels=8, decoder_channels=(4, 4))
    assert neck.generate_volume(torch.randn(3, 8)).shape == (3, 8, 4, 4, 4)
    with pytest.raises(ValueError, match='volume_size'):
        PTNNeck(in_channels=8, volume_size=3)
    with pytest.raises(ValueError, match='projection'):
        PTNNeck(in_channels=8, projection='fisheye')
    with pytest.raises(ValueError, match='phi'):
        neck(torch.randn(2, 8, 3, 3), torch.zeros(3, 1))
