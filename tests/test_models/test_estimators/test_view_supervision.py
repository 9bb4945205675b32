"""The view logic of ImpHMR's losses, with hand-made tensors."""
import math

import pytest
import torch

from mmhuman_imphmr.models.estimators.view_supervision import (
    fit_weak_perspective, rotate_targets_to_view, sample_angles,
    stack_targets, term_weights)
from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat, rotation_y,
                                           weak_perspective_to_translation,
                                           perspective_projection)


def _sample(has_smpl: float, seed: int) -> MeshDataSample:
    g = torch.Generator().manual_seed(seed)
    s = MeshDataSample(metainfo=dict(gender='neutral', sample_idx=seed))
    s.gt_keypoints2d = torch.cat(
        [torch.rand(49, 2, generator=g) * 2 - 1, torch.ones(49, 1)], dim=1)
    s.gt_keypoints3d = torch.cat(
        [torch.randn(24, 3, generator=g), torch.ones(24, 1)], dim=1)
    s.gt_global_orient = torch.randn(3, generator=g)
    s.gt_body_pose = 0.3 * torch.randn(69, generator=g)
    s.gt_betas = torch.randn(10, generator=g)
    s.has_smpl = torch.tensor(has_smpl)
    s.has_kp3d = torch.tensor(1.)
    return s


def test_stack_targets_shapes_and_missing_fields():
    full = _sample(1., 0)
    bare = MeshDataSample(metainfo=dict(gender='female'))
    bare.gt_keypoints2d = torch.zeros(49, 3)
    # A sample that claims has_smpl but lacks the SMPL fields must not count.
    bare.has_smpl = torch.tensor(1.)
    t = stack_targets([full, bare], torch.device('cpu'))
    assert t['keypoints2d'].shape == (2, 49, 3)
    assert t['keypoints3d'].shape == (2, 24, 4)
    assert t['rotmat'].shape == (2, 24, 3, 3)
    assert t['betas'].shape == (2, 10)
    assert t['has_smpl'].tolist() == [1., 0.]
    assert t['has_kp3d'].tolist() == [1., 0.]
    # Zero axis-angle gives identity rotations for the missing sample.
    assert torch.allclose(t['rotmat'][1], torch.eye(3).expand(24, 3, 3))
    assert torch.allclose(t['rotmat'][0, 0],
                          axis_angle_to_rotmat(full.gt_global_orient))


def test_stack_targets_rejects_bad_shape():
    s = _sample(1., 0)
    s.gt_betas = torch.zeros(11)
    with pytest.raises(ValueError, match='gt_betas'):
        stack_targets([s], torch.device('cpu'))


def test_sample_angles_range():
    phi = sample_angles(64, 3, torch.device('cpu'),
                        torch.Generator().manual_seed(0))
    assert phi.shape == (64, 3)
    assert phi.min() >= 0 and phi.max() < 2 * math.pi
    # Independent draws: not all the same angle within a row.
    assert (phi[:, 0] != phi[:, 1]).all()


def test_rotate_targets_identity_at_zero_and_2pi():
    t = stack_targets([_sample(1., 0), _sample(0., 1)], torch.device('cpu'))
    for phi in (0., 2 * math.pi):
        v = rotate_targets_to_view(t, torch.full((2, ), phi))
        assert torch.allclose(v['keypoints3d'], t['keypoints3d'], atol=1e-5)
        assert torch.allclose(v['rotmat'], t['rotmat'], atol=1e-5)
        assert torch.equal(v['betas'], t['betas'])
        assert 'keypoints2d' not in v


def test_rotate_targets_changes_only_root_and_keeps_pelvis():
    t = stack_targets([_sample(1., 3)], torch.device('cpu'))
    phi = torch.tensor([0.7])
    v = rotate_targets_to_view(t, phi)
    # Body pose and confidences unchanged; root = R_y(-phi) R_root
    # (DESIGN §3).
    assert torch.equal(v['rotmat'][:, 1:], t['rotmat'][:, 1:])
    assert torch.allclose(v['rotmat'][0, 0],
                          rotation_y(-0.7) @ t['rotmat'][0, 0], atol=1e-6)
    assert torch.equal(v['keypoints3d'][..., 3], t['keypoints3d'][..., 3])
    # The pelvis (mean of the hips, joints 2 and 3 of the 24) stays put and
    # the bone lengths are preserved: a rigid turn about the pelvis.
    def pelvis(k):
        return 0.5 * (k[:, 2, :3] + k[:, 3, :3])
    assert torch.allclose(pelvis(v['keypoints3d']),
                          pelvis(t['keypoints3d']), atol=1e-6)
    d0 = torch.cdist(t['keypoints3d'][0, :, :3], t['keypoints3d'][0, :, :3])
    d1 = torch.cdist(v['keypoints3d'][0, :, :3], v['keypoints3d'][0, :, :3])
    assert torch.allclose(d0, d1, atol=1e-5)
    # Heights (y, the rotation axis) do not change.
    assert torch.allclose(v['keypoints3d'][..., 1], t['keypoints3d'][..., 1])


def test_term_weights_route_samples_by_label():
    # Sample 0: SMPL + 3D joints; sample 1: 2D only; sample 2: SMPL, no 3D.
    t = dict(has_smpl=torch.tensor([1., 0., 1.]),
             has_kp3d=torch.tensor([1., 0., 0.]))
    reg = term_weights(t, ('keypoints2d', 'keypoints3d', 'pose', 'betas',
                           'cam'), 'reg')
    assert reg['keypoints2d'].tolist() == [1., 1., 1.]
    assert reg['keypoints3d'].tolist() == [1., 0., 0.]
    assert reg['pose'].tolist() == [1., 0., 1.]
    imag = term_weights(t, ('keypoints3d', 'pose', 'betas', 'silhouette'),
                        'imag')
    assert imag['keypoints3d'].tolist() == [1., 0., 0.]
    for term in ('pose', 'betas', 'silhouette'):
        assert imag[term].tolist() == [1., 0., 1.]
    cons = term_weights(t, ('pose', 'betas'), 'cons')
    assert cons['pose'].tolist() == [0., 1., 0.]
    assert cons['betas'].tolist() == [0., 1., 0.]
    with pytest.raises(KeyError, match='unknown terms'):
        term_weights(t, ('silh', ), 'imag')
    with pytest.raises(ValueError, match="'reg'"):
        term_weights(t, ('pose', ), 'canonical')


def test_fit_weak_perspective_recovers_camera():
    # 2D keypoints made with SPIN's perspective camera from a known weak
    # perspective camera: the fit must give it back (up to the weak
    # perspective approximation, small at depth 2f/(res s) ~ 50 m).
    g = torch.Generator().manual_seed(0)
    joints = 0.5 * torch.randn(2, 49, 3, generator=g)
    cam = torch.tensor([[0.9, 0.05, -0.1], [1.1, -0.2, 0.15]])
    kp = perspective_projection(joints, weak_perspective_to_translation(cam))
    kp = torch.cat([kp, torch.ones(2, 49, 1)], -1)
    fallback = torch.zeros(2, 3)
    fit = fit_weak_perspective(joints, kp, fallback)
    assert torch.allclose(fit, cam, atol=0.01)
    # Too few visible keypoints -> the fallback camera.
    kp[1, 3:, 2] = 0
    fit = fit_weak_perspective(joints, kp, fallback)
    assert torch.equal(fit[1], fallback[1])
    assert torch.allclose(fit[0], cam[0], atol=0.01)


def test_silhouette_targets_follow_the_gt_camera_and_view(body_model_root):
    from mmhuman_imphmr.body_models import SMPL
    from mmhuman_imphmr.models.estimators.view_supervision import \
        render_silhouette_targets
    smpl = SMPL(model_path=body_model_root)
    # Upright body (pi about x, SPIN's mean orientation) in its rest pose,
    # 2D keypoints made with the camera (0.9, 0.2, 0): the person is shifted
    # right in the crop.
    orient = torch.tensor([[math.pi, 0., 0.]])
    out = smpl(global_orient=orient, body_pose=torch.zeros(1, 69),
               betas=torch.zeros(1, 10))
    cam = torch.tensor([[0.9, 0.2, 0.]])
    kp2d = perspective_projection(out['joints'],
                                  weak_perspective_to_translation(cam))
    targets = dict(rotmat=axis_angle_to_rotmat(
        torch.cat([orient, torch.zeros(1, 69)], 1).view(1, 24, 3)),
                   betas=torch.zeros(1, 10),
                   keypoints2d=torch.cat([kp2d, torch.ones(1, 49, 1)], -1))

    def render(phi):
        return render_silhouette_targets(
            smpl, targets, torch.tensor([phi]),
            fallback_cam=torch.tensor([[0.5, 0., 0.]]), image_size=128)[0]

    front = render(0.)
    assert front.shape == (128, 128) and front.sum() > 100
    # The GT hips/knees (inside the body) project into the silhouette: the
    # fitted camera is the one the keypoints were made with, not the
    # fallback (which would put the body at the centre, at half the size).
    for joint in (27, 28, 26, 29):  # R/L hip, R/L knee of the 49
        u, v = ((kp2d[0, joint] + 1) * 64).long().tolist()
        assert front[v, u] == 1, joint
    # The pelvis column: about (0.2 * 0.9 + 1) * 64 = 75.5 px.
    cols = front.nonzero()[:, 1].float()
    assert abs(cols.mean() - 75.5) < 4
    # Turning by pi about the vertical axis through the pelvis mirrors the
    # silhouette about the pelvis column (weak perspective at ~50 m depth);
    # a quarter turn shows the side, narrower than the front.
    back = render(math.pi)
    mirrored = torch.zeros_like(front)
    shift = 2 * round(float(cols.mean()))
    ys, xs = front.nonzero(as_tuple=True)
    keep = (shift - xs >= 0) & (shift - xs < 128)
    mirrored[ys[keep], shift - xs[keep]] = 1
    iou = (back * mirrored).sum() / ((back + mirrored) > 0).sum()
    assert iou > 0.8
    side = render(0.5 * math.pi)
    assert side.sum() < 0.8 * front.sum()
    width = front.nonzero()[:, 1]
    side_width = side.nonzero()[:, 1]
    assert (side_width.max() - side_width.min()) < \
        0.7 * (width.max() - width.min())
