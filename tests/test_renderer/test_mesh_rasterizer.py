"""Tests of the built-in batched rasterizer against independent references."""
import math

import numpy as np
import pytest
import torch

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.renderer import MeshRasterizer

H, W = 18, 22  # non-square, to catch row/column mix-ups
FOCAL, CX, CY = 20.0, 10.3, 9.1  # off-centre principal point


def random_mesh(seed, num_faces=12, num_verts=20):
    """Random triangles before the camera, some partly outside the image."""
    gen = torch.Generator().manual_seed(seed)
    z = 2.0 + 2.0 * torch.rand(num_verts, generator=gen)
    x = (torch.rand(num_verts, generator=gen) * 1.4 - 0.7) * z
    y = (torch.rand(num_verts, generator=gen) * 1.4 - 0.7) * z
    verts = torch.stack([x, y, z], -1)
    faces = torch.randint(0, num_verts, (num_faces, 3), generator=gen)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) &
                  (faces[:, 0] != faces[:, 2])]
    return verts, faces


def brute_force(verts, faces, fx=FOCAL, fy=FOCAL, cx=CX, cy=CY, h=H, w=W):
    """Independent reference: loop over pixels x triangles in float64 numpy.

    Coverage: the pixel centre is on the same side of the three edges (signs of
    2D cross products). Depth: the camera ray through the pixel centre is
    intersected with the triangle's 3D plane (no barycentric interpolation at
    all). Also returns, per pixel, whether it is ambiguous: its centre is
    within ``tol`` pixels of an edge of a triangle, or two covering triangles
    are within ``1e-4`` in depth (rounding may then decide either way).
    """
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces)
    uv = np.stack([
        fx * verts[:, 0] / verts[:, 2] + cx,
        fy * verts[:, 1] / verts[:, 2] + cy
    ], 1)
    sil = np.zeros((h, w))
    face_idx = -np.ones((h, w), dtype=np.int64)
    depth = np.zeros((h, w))
    ambiguous = np.zeros((h, w), dtype=bool)
    tol = 1e-2
    for i in range(h):
        for j in range(w):
            p = np.array([j + 0.5, i + 0.5])
            ray = np.array([(p[0] - cx) / fx, (p[1] - cy) / fy, 1.0])
            hits = []
            for f, (a, b, c) in enumerate(faces):
                tri = uv[[a, b, c]]
                cross = [
                    np.cross(tri[(k + 1) % 3] - tri[k], p - tri[k])
                    for k in range(3)
                ]
                for k in range(3):  # distance to each edge segment
                    e = tri[(k + 1) % 3] - tri[k]
                    t = np.clip(np.dot(p - tri[k], e) / np.dot(e, e), 0, 1)
                    if np.linalg.norm(p - tri[k] - t * e) < tol:
                        ambiguous[i, j] = True
                if all(c_ >= 0 for c_ in cross) or all(c_ <= 0
                                                       for c_ in cross):
                    normal = np.cross(verts[b] - verts[a], verts[c] - verts[a])
                    z = np.dot(normal, verts[a]) / np.dot(normal, ray)
                    hits.append((z, f))
            if hits:
                hits.sort()
                sil[i, j] = 1
                depth[i, j], face_idx[i, j] = hits[0]
                if len(hits) > 1 and hits[1][0] - hits[0][0] < 1e-4:
                    ambiguous[i, j] = True
    return sil, face_idx, depth, ambiguous


@pytest.mark.parametrize('seed', [0, 1])
def test_matches_brute_force(seed):
    verts, faces = random_mesh(seed)
    rast = MeshRasterizer(
        image_size=(H, W), focal_length=FOCAL, principal_point=(CX, CY))
    sil = rast.silhouette(verts[None], faces)[0].numpy()
    frag = rast.rasterize(verts[None], faces)
    exp_sil, exp_face, exp_depth, ambiguous = brute_force(verts, faces)
    ok = ~ambiguous
    # The comparison must be meaningful: most pixels are decided, and both
    # covered and empty pixels occur.
    assert ok.mean() > 0.9
    assert 0.1 < exp_sil[ok].mean() < 0.95
    np.testing.assert_array_equal(sil[ok], exp_sil[ok])
    np.testing.assert_array_equal(frag['face_index'][0].numpy()[ok],
                                  exp_face[ok])
    np.testing.assert_allclose(
        frag['depth'][0].numpy()[ok], exp_depth[ok], rtol=1e-4, atol=1e-6)
    # Perspective-correct barycentrics reproduce the 3D surface point, which
    # lies on the camera ray: its projection is the pixel centre.
    covered = frag['face_index'][0] >= 0
    corners = verts[faces[frag['face_index'][0][covered]]]  # (P, 3, 3)
    point = (frag['bary'][0][covered].unsqueeze(-1) * corners).sum(1)
    rows, cols = covered.nonzero(as_tuple=True)
    np.testing.assert_allclose(
        FOCAL * point[:, 0] / point[:, 2] + CX, cols + 0.5, atol=1e-3)
    np.testing.assert_allclose(
        FOCAL * point[:, 1] / point[:, 2] + CY, rows + 0.5, atol=1e-3)


def test_chunking_does_not_change_results():
    verts, faces = random_mesh(3, num_faces=30)
    verts = torch.stack([verts, verts * torch.tensor([1.1, 0.9, 1.0])])
    full = MeshRasterizer((H, W), FOCAL, (CX, CY))
    tiny = MeshRasterizer((H, W), FOCAL, (CX, CY), max_candidates=7)
    assert torch.equal(
        full.silhouette(verts, faces), tiny.silhouette(verts, faces))
    for key, value in full.rasterize(verts, faces).items():
        assert torch.equal(value, tiny.rasterize(verts, faces)[key]), key


def square(side, z, angle=0.0, centre=(0.0, 0.0)):
    """A ``side`` square at depth ``z`` facing the camera, turned in-plane."""
    corners = torch.tensor([[-1., -1.], [1., -1.], [1., 1.], [-1., 1.]
                            ]) * side / 2
    c, s = math.cos(angle), math.sin(angle)
    corners = corners @ torch.tensor([[c, s], [-s, c]]) + torch.tensor(centre)
    verts = torch.cat([corners, torch.full((4, 1), z)], 1)
    return verts, torch.tensor([[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize('angle', [0.0, 0.3])
def test_square_area(angle):
    # Side 1 at depth 5 with f = 400 projects to an 80 px square: analytic
    # area (f * side / z)^2 = 6400 px^2; pixel-centre sampling errs only
    # along the border.
    rast = MeshRasterizer(image_size=128, focal_length=400.0)
    verts, faces = square(1.0, 5.0, angle, centre=(0.05, -0.03))
    area = rast.silhouette(verts[None], faces).sum().item()
    assert abs(area - 6400.0) / 6400.0 < 0.02
    # A square larger than the image fills it completely (bbox clipping).
    verts, faces = square(10.0, 5.0, angle)
    assert rast.silhouette(verts[None], faces).min().item() == 1.0


def test_pixel_centre_convention():
    # Pixel (i, j) is sampled at (j + 0.5, i + 0.5); the default principal
    # point is (W / 2, H / 2) = (64, 64). A tiny square spanning [64.4, 64.6]
    # in u and v contains only the centre of pixel (64, 64); one spanning
    # [63.9, 64.1] contains no pixel centre at all.
    rast = MeshRasterizer(image_size=128, focal_length=100.0)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    for (lo, hi), expected in (((64.4, 64.6), [[64, 64]]), ((63.9, 64.1), [])):
        a, b = (lo - 64) / 100 * 2, (hi - 64) / 100 * 2  # at z = 2
        verts = torch.tensor([[a, a, 2.], [b, a, 2.], [b, b, 2.], [a, b, 2.]])
        sil = rast.silhouette(verts[None], faces)[0]
        assert sil.nonzero().tolist() == expected


def test_zbuffer_keeps_nearer_triangle():
    rast = MeshRasterizer(image_size=32, focal_length=32.0)
    near_tri = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0],
                             [0.0, 0.5, 2.0]])
    far_tri = torch.tensor([[-0.4, 0.6, 3.0], [0.6, 0.6, 3.0],
                            [0.1, -0.6, 3.0]])
    colors = torch.tensor([[1., 0., 0.]] * 3 + [[0., 1., 0.]] * 3)
    for order in ([0, 1], [1, 0]):  # face order must not matter
        tris = [near_tri, far_tri]
        verts = torch.cat([tris[k] for k in order])
        cols = torch.cat([colors[3 * k:3 * k + 3] for k in order])
        faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
        out = rast.render(verts[None], faces, cols, ambient=1.0)
        # Centre pixel (16, 16) lies in both; the red one is nearer.
        assert out['image'][0, 16, 16].tolist() == [1.0, 0.0, 0.0]
        assert out['depth'][0, 16, 16].item() == pytest.approx(2.0)
        # The far (green) one shows only where the red one does not cover.
        green = out['image'][0, ..., 1] > 0.5
        assert green.any() and not (green & (out['depth'][0] < 2.5)).any()


def test_barycentric_colours_and_lambertian_shading():
    rast = MeshRasterizer(image_size=64, focal_length=64.0)
    # Fronto-parallel triangle at constant depth: perspective-correct weights
    # equal screen-space ones, which we compute from the projected corners.
    verts = torch.tensor([[-0.9, -0.8, 2.], [0.9, -0.6, 2.], [0.0, 0.9, 2.]])
    faces = torch.tensor([[0, 1, 2]])
    colors = torch.eye(3)
    out = rast.render(verts[None], faces, colors, ambient=1.0)
    uv = verts[:, :2] / 2 * 64 + 32
    p = torch.tensor([32.5, 40.5])  # pixel (row 40, col 32)
    mat = torch.stack([uv[1] - uv[0], uv[2] - uv[0]], 1)
    w12 = torch.linalg.solve(mat, p - uv[0])
    expected = torch.stack([1 - w12.sum(), w12[0], w12[1]])
    torch.testing.assert_close(out['image'][0, 40, 32], expected)
    # Headlight on a plane facing the camera: full brightness, either winding.
    white = torch.ones(3, 3)
    for f in (faces, faces.flip(1)):
        for shading in ('smooth', 'flat'):
            img = rast.render(
                verts[None], f, white, ambient=0.3, shading=shading)['image']
            assert img[0, 40, 32].tolist() == pytest.approx([1.0] * 3)
    # Plane tilted by 60 deg about y (normal at 60 deg to the light):
    # ambient + (1 - ambient) * cos(60 deg) = 0.3 + 0.7 * 0.5.
    tilt = torch.tensor([[-0.5, -0.5, 2.0 - 0.5 * math.sqrt(3)],
                         [0.5, -0.5, 2.0 + 0.5 * math.sqrt(3)],
                         [0.0, 0.5, 2.0]])
    img = rast.render(
        tilt[None], faces, white, ambient=0.3, shading='flat')['image']
    assert img[0, 36, 30, 0].item() == pytest.approx(0.65, abs=1e-5)


def test_empty_and_degenerate_inputs():
    rast = MeshRasterizer(image_size=16, focal_length=16.0)
    verts, faces = random_mesh(0)
    # Behind the camera (z < near): ignored, not mirrored into the image.
    behind = verts * torch.tensor([1., 1., -1.])
    assert rast.silhouette(behind[None], faces).sum() == 0
    # Entirely outside the image.
    outside = verts + torch.tensor([100., 0., 0.])
    assert rast.silhouette(outside[None], faces).sum() == 0
    # No faces at all, and an empty render keeps the background.
    assert rast.silhouette(verts[None], faces[:0]).sum() == 0
    out = rast.render(
        verts[None], faces[:0], torch.rand(20, 3), background=(0.2, 0.4, 0.6))
    assert out['mask'].sum() == 0 and out['depth'].sum() == 0
    assert torch.allclose(out['image'], torch.tensor([0.2, 0.4, 0.6]))
    # Degenerate (collinear, repeated) triangles and one crossing the near
    # plane: no crash, nothing drawn.
    degen = torch.tensor([[0., 0., 2.], [0.1, 0.1, 2.], [0.2, 0.2, 2.],
                          [-1., -1., -1.], [1., -1., 3.], [0., 1., 3.]])
    dfaces = torch.tensor([[0, 1, 2], [0, 0, 1], [3, 4, 5]])
    assert rast.silhouette(degen[None], dfaces).sum() == 0
    assert rast.render(degen[None], dfaces, torch.ones(6,
                                                       3))['mask'].sum() == 0


def test_batch_matches_single_renders():
    rast = MeshRasterizer(
        image_size=(H, W), focal_length=FOCAL, principal_point=(CX, CY))
    meshes = [random_mesh(seed)[0] for seed in (5, 6, 7)]
    faces = random_mesh(5)[1]
    batch = torch.stack(meshes)
    colors = torch.rand(3, batch.shape[1], 3)
    sil = rast.silhouette(batch, faces)
    out = rast.render(batch, faces, colors)
    assert not torch.equal(sil[0], sil[1])  # the meshes do differ
    for k, verts in enumerate(meshes):
        assert torch.equal(sil[k], rast.silhouette(verts[None], faces)[0])
        single = rast.render(verts[None], faces, colors[k])
        for key in ('image', 'mask', 'depth'):
            torch.testing.assert_close(out[key][k], single[key][0])


def test_registry_and_bad_input():
    rast = MODELS.build(dict(type='MeshRasterizer', image_size=64))
    assert isinstance(rast, MeshRasterizer)
    assert (rast.cx, rast.cy) == (32.0, 32.0)
    assert rast.fx == pytest.approx(5000 * 128 / 224)
    with pytest.raises(ValueError, match='vertices'):
        rast.silhouette(torch.zeros(5, 3), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match='vertex_colors'):
        rast.render(
            torch.ones(1, 3, 3), torch.tensor([[0, 1, 2]]), torch.ones(4, 3))


def test_pytorch3d_backend_matches_builtin():
    pytest.importorskip(
        'pytorch3d',
        reason='pytorch3d has no PyPI wheel for Linux; the '
        'optional PyTorch3DRasterizer backend is only testable where it was '
        'built from source')
    from mmhuman_imphmr.renderer import PyTorch3DRasterizer
    verts, faces = random_mesh(0)
    ours = MeshRasterizer((H, W), FOCAL, (CX, CY))
    theirs = PyTorch3DRasterizer((H, W), FOCAL, (CX, CY))
    _, _, _, ambiguous = brute_force(verts, faces)
    ok = torch.from_numpy(~ambiguous)
    assert torch.equal(
        ours.silhouette(verts[None], faces)[0][ok],
        theirs.silhouette(verts[None], faces)[0][ok])
