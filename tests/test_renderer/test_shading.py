"""renderer/shading.py: the one shader of the rasterizer and the generator."""
import math

import numpy as np
import pytest
import torch

from mmhuman_imphmr.renderer import MeshRasterizer, shade_fragments
from mmhuman_imphmr.renderer.shading import vertex_normals


def _quad(z_tilt: float = 0.0):
    """Two triangles of one square of side 1 at depth 2 (area 1 in total),
    consistently wound; ``z_tilt`` raises its right edge toward the camera."""
    verts = torch.tensor([[-0.5, -0.5, 2.0 + z_tilt],
                          [0.5, -0.5, 2.0 - z_tilt], [0.5, 0.5, 2.0 - z_tilt],
                          [-0.5, 0.5, 2.0 + z_tilt]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return verts, faces


def test_vertex_normals_are_area_weighted_sums():
    verts, faces = _quad()
    normals = vertex_normals(verts[None], faces)[0]
    # Each triangle has area 1/2: its cross product has length 1 along z.
    # Vertices 0 and 2 are in both triangles, 1 and 3 in one.
    torch.testing.assert_close(normals[:, 2].abs(),
                               torch.tensor([2.0, 1.0, 2.0, 1.0]))
    torch.testing.assert_close(normals[:, :2], torch.zeros(4, 2))


def test_per_image_light_and_ambient_equal_single_renders():
    # The generator lights every image differently; a batch shaded with a
    # light and an ambient share per image must equal one render per image.
    rast = MeshRasterizer(image_size=32, focal_length=40.0)
    verts, faces = _quad(z_tilt=0.3)
    batch = torch.stack([verts, verts + torch.tensor([0.1, 0.0, 0.5])])
    colors = torch.rand(2, 4, 3, generator=torch.Generator().manual_seed(0))
    lights = torch.tensor([[0.5, 0.2, 1.0], [-0.4, 0.6, 1.0]])
    ambient = torch.tensor([0.3, 0.6])
    fragments = rast.rasterize(batch, faces)
    out = shade_fragments(
        fragments,
        batch,
        faces,
        colors,
        light_direction=lights,
        ambient=ambient)
    images = []
    for k in range(2):
        single = rast.render(
            batch[k:k + 1],
            faces,
            colors[k],
            light_direction=lights[k].tolist(),
            ambient=float(ambient[k]))
        images.append(single['image'][0])
        torch.testing.assert_close(out['image'][k], single['image'][0])
    assert not torch.allclose(images[0], images[1])  # the lights do differ


def test_tilted_plane_lambert_and_bad_arguments():
    # A plane turned by 60 deg about y under a headlight: the pixel is
    # ambient + (1 - ambient) cos(60 deg), for both shading modes (all four
    # vertex normals of a plane are parallel).
    s = math.sqrt(3) / 2
    verts = torch.tensor([[-0.25, -0.5, 2.0 - s / 2],
                          [0.25, -0.5, 2.0 + s / 2], [0.25, 0.5, 2.0 + s / 2],
                          [-0.25, 0.5, 2.0 - s / 2]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    rast = MeshRasterizer(image_size=32, focal_length=32.0)
    for shading in ('smooth', 'flat'):
        img = rast.render(
            verts[None], faces, torch.ones(4, 3), ambient=0.3,
            shading=shading)['image']
        assert img[0, 16, 16, 0].item() == pytest.approx(0.65, abs=1e-5)
    fragments = rast.rasterize(verts[None], faces)
    with pytest.raises(ValueError, match='light_direction'):
        shade_fragments(
            fragments,
            verts[None],
            faces,
            torch.ones(4, 3),
            light_direction=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r'ambient must be in \[0, 1\]'):
        shade_fragments(
            fragments,
            verts[None],
            faces,
            torch.ones(4, 3),
            ambient=torch.tensor([1.5]))


def test_generator_images_are_rasterizer_renders(body_model_root):
    # The synthetic generator shades with the same function as
    # MeshRasterizer.render: each of its images equals a render of that
    # image's mesh with that image's light, ambient share and background.
    from mmhuman_imphmr.datasets.synthetic.appearance import vertex_colors
    from mmhuman_imphmr.datasets.synthetic.generator import (_Renderer,
                                                             _sample_params)
    size, focal = 32, 56.0
    renderer = _Renderer(body_model_root, size, focal)
    params = [_sample_params(0, 'train', i, size, focal) for i in range(2)]
    out = renderer(params)
    for k, p in enumerate(params):
        verts = torch.from_numpy(out['vertices'][k:k + 1])
        colors = torch.from_numpy(vertex_colors(renderer.parts, p['palette']))
        single = renderer.rasterizer.render(
            verts,
            renderer.faces,
            colors,
            background=torch.from_numpy(p['background']),
            light_direction=torch.from_numpy(p['light']),
            ambient=float(p['ambient']))
        assert out['mask'][k].sum() > 20  # a person is in the picture
        np.testing.assert_allclose(
            out['image'][k], single['image'][0].numpy(), atol=1e-6)
