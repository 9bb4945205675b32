"""The view logic of ImpHMR's losses, with hand-made tensors."""
import math

import pytest
import torch

from mmhuman_imphmr.models.estimators.view_supervision import (
    rotate_targets_to_view, stack_targets)
from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample
from mmhuman_imphmr.utils.constants import LABEL_TYPES
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat, rotation_y


def _sample(has_smpl: float, seed: int) -> MeshDataSample:
    g = torch.Generator().manual_seed(seed)
    s = MeshDataSample(metainfo=dict(gender='neutral', sample_idx=seed))
    s.gt_keypoints2d = torch.cat(
        [torch.rand(49, 2, generator=g) * 2 - 1,
         torch.ones(49, 1)], dim=1)
    s.gt_keypoints3d = torch.cat(
        [torch.randn(24, 3, generator=g),
         torch.ones(24, 1)], dim=1)
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


def test_stack_targets_label_types_declared_or_inferred():
    # Declared types pass through; a sample without one is typed by its own
    # flags (SMPL + 3D -> gt3d, SMPL only -> pseudo_smpl, none -> 2d_only).
    declared = _sample(1., 0)
    declared.set_metainfo(dict(label_type='2d_only'))
    eft = _sample(1., 1)
    eft.has_kp3d = torch.tensor(0.)
    t = stack_targets([declared, _sample(1., 2), eft,
                       _sample(0., 3)], torch.device('cpu'))
    assert [LABEL_TYPES[i] for i in t['label_type'].tolist()
            ] == ['2d_only', 'gt3d', 'pseudo_smpl', '2d_only']
    bad = _sample(1., 0)
    bad.set_metainfo(dict(label_type='3d'))
    with pytest.raises(ValueError, match="label_type='3d'"):
        stack_targets([bad], torch.device('cpu'))


def test_stack_targets_rejects_bad_shape():
    s = _sample(1., 0)
    s.gt_betas = torch.zeros(11)
    with pytest.raises(ValueError, match='gt_betas'):
        stack_targets([s], torch.device('cpu'))


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
    assert torch.allclose(
        v['rotmat'][0, 0], rotation_y(-0.7) @ t['rotmat'][0, 0], atol=1e-6)
    assert torch.equal(v['keypoints3d'][..., 3], t['keypoints3d'][..., 3])

    # The pelvis (mean of the hips, joints 2 and 3 of the 24) stays put and
    # the bone lengths are preserved: a rigid turn about the pelvis.
    def pelvis(k):
        return 0.5 * (k[:, 2, :3] + k[:, 3, :3])

    assert torch.allclose(
        pelvis(v['keypoints3d']), pelvis(t['keypoints3d']), atol=1e-6)
    d0 = torch.cdist(t['keypoints3d'][0, :, :3], t['keypoints3d'][0, :, :3])
    d1 = torch.cdist(v['keypoints3d'][0, :, :3], v['keypoints3d'][0, :, :3])
    assert torch.allclose(d0, d1, atol=1e-5)
    # Heights (y, the rotation axis) do not change.
    assert torch.allclose(v['keypoints3d'][..., 1], t['keypoints3d'][..., 1])
