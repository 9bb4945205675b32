"""Tests of the silhouette GT of view phi (rotation about the pelvis)."""
import math

import pytest
import torch

from mmhuman_imphmr.renderer import MeshRasterizer, render_view_silhouettes
from mmhuman_imphmr.utils.geometry import weak_perspective_to_translation


def box(lo, hi):
    """Closed axis-aligned box mesh: (vertices Tensor[8, 3], faces [12, 3])."""
    lo, hi = torch.tensor(lo), torch.tensor(hi)
    corners = torch.tensor([[(k >> 0) & 1, (k >> 1) & 1, (k >> 2) & 1]
                            for k in range(8)],
                           dtype=torch.float32)
    verts = lo + corners * (hi - lo)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6],
             [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = [[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]]
                                                   for q in quads]
    return verts, torch.tensor(faces)


def asymmetric_body():
    """A torso (y down, as SPIN's frame) with an arm sticking out to +x and
    forward toward the camera (-z): not left-right symmetric."""
    torso_v, torso_f = box((-0.2, -0.7, -0.1), (0.2, 0.7, 0.1))
    arm_v, arm_f = box((0.2, -0.5, -0.5), (0.6, -0.35, 0.0))
    verts = torch.cat([torso_v, arm_v])
    faces = torch.cat([torso_f, arm_f + len(torso_v)])
    return verts, faces


def setup(batch=1):
    verts, faces = asymmetric_body()
    verts = verts.expand(batch, -1, -1)
    pelvis = torch.tensor([[0.0, 0.1, 0.0]]).expand(batch, 3)
    cam = torch.tensor([[0.9, 0.05, -0.1]]).expand(batch, 3)
    transl = weak_perspective_to_translation(cam)
    return verts, faces, pelvis, transl


def test_phi_zero_is_the_plain_silhouette():
    verts, faces, pelvis, transl = setup()
    sil = render_view_silhouettes(verts, faces, pelvis, torch.zeros(1), transl)
    # The plain camera of the silhouette head: SPIN's f = 5000 for a 224 crop,
    # scaled to the 128 silhouette.
    rast = MeshRasterizer(image_size=128, focal_length=5000 * 128 / 224)
    expected = rast.silhouette(verts + transl[:, None], faces)
    assert sil.shape == (1, 128, 128)
    assert 0.02 < expected.mean() < 0.5  # the body is in view
    assert torch.equal(sil, expected)


def test_phi_pi_turns_the_body_around():
    verts, faces, pelvis, transl = setup()
    phi = torch.full((1, ), math.pi)
    sil = render_view_silhouettes(verts, faces, pelvis, phi, transl)
    # Built by hand: R_y(-pi) = diag(-1, 1, -1) about the pelvis maps
    # (x, y, z) to (2 px - x, y, 2 pz - z): the arm now points to -x and away.
    mirrored = verts.clone()
    mirrored[..., 0] = 2 * pelvis[:, None, 0] - verts[..., 0]
    mirrored[..., 2] = 2 * pelvis[:, None, 2] - verts[..., 2]
    rast = MeshRasterizer(image_size=128, focal_length=5000 * 128 / 224)
    expected = rast.silhouette(mirrored + transl[:, None], faces)
    assert torch.equal(sil, expected)
    # The body is asymmetric, so the view did change; with the far camera
    # (t_z ~ 50 m) the turned silhouette is close to the left-right mirror
    # image about the column of the pelvis.
    front = render_view_silhouettes(verts, faces, pelvis, torch.zeros(1),
                                    transl)
    assert (sil != front).float().sum() > 100
    centre_col = 5000 * 128 / 224 * (pelvis[0, 0] +
                                     transl[0, 0]) / transl[0, 2] + 64
    cols = torch.arange(128) + 0.5
    src = (2 * centre_col - cols - 0.5).round().long().clamp(0, 127)
    flipped = front[..., src]
    overlap = (flipped * sil).sum() / torch.maximum(flipped, sil).sum()
    assert overlap > 0.9


def test_full_turn_and_batch():
    verts, faces, pelvis, transl = setup(batch=4)
    phis = torch.tensor([0.0, 2 * math.pi, math.pi / 2, math.pi])
    sil = render_view_silhouettes(verts, faces, pelvis, phis, transl)
    assert torch.equal(sil[0], sil[1])  # 2 pi is the identity
    assert not torch.equal(sil[0], sil[2])
    for k in range(4):  # each sample is rendered with its own phi
        single = render_view_silhouettes(verts[k:k + 1], faces,
                                         pelvis[k:k + 1], phis[k:k + 1],
                                         transl[k:k + 1])
        assert torch.equal(sil[k], single[0])


def test_bad_shapes():
    verts, faces, pelvis, transl = setup(batch=2)
    with pytest.raises(ValueError, match='phi'):
        render_view_silhouettes(verts, faces, pelvis, torch.zeros(3), transl)
    with pytest.raises(ValueError, match='translation'):
        render_view_silhouettes(verts, faces, pelvis, torch.zeros(2),
                                transl[:1])


def test_quarter_turn_sign():
    # DESIGN §3: R_y(a) = [[cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]],
    # so R_y(-pi/2) maps (x, y, z) to (-z, y, x) (about the pelvis). The arm
    # that points toward the camera (-z) then points to +x, the one at +x
    # points away: a sign error would put the arm on the other side.
    verts, faces, pelvis, transl = setup()
    sil = render_view_silhouettes(verts, faces, pelvis,
                                  torch.full((1, ), math.pi / 2), transl)
    rel = verts - pelvis[:, None]
    turned = torch.stack([-rel[..., 2], rel[..., 1], rel[..., 0]], -1)
    rast = MeshRasterizer(image_size=128, focal_length=5000 * 128 / 224)
    expected = rast.silhouette(turned + pelvis[:, None] + transl[:, None],
                               faces)
    assert torch.equal(sil, expected)
    wrong = torch.stack([rel[..., 2], rel[..., 1], -rel[..., 0]], -1)
    wrong_sil = rast.silhouette(wrong + pelvis[:, None] + transl[:, None],
                                faces)
    assert not torch.equal(sil, wrong_sil)
