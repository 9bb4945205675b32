"""UnseenViewMetric and its functional pieces: the target of view phi is the
GT rotated by -phi (eq. 6), so predicting exactly that scores 0, and a
predictor that ignores phi scores a closed form."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from mmhuman_imphmr.evaluation import (MeshMetric, UnseenViewMetric, mask_iou,
                                       rotation_angle_deg, view_target_joints,
                                       view_target_orient)
from mmhuman_imphmr.registry import METRICS
from mmhuman_imphmr.utils.constants import H36M_PELVIS, H36M_TO_J14
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           rotate_global_orient_to_view,
                                           rotation_y)

ANGLES = (30., 90., 180., 270.)


@pytest.fixture(scope='module')
def metric(body_model_root):
    return UnseenViewMetric(
        body_model=dict(type='SMPL', model_path=body_model_root))


@pytest.fixture
def warnings(monkeypatch):
    logged = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning',
                        lambda msg, *a, **k: logged.append(msg))
    return logged


def _gt_samples(genders, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        dict(
            sample_idx=i,
            gender=gender,
            has_smpl=torch.tensor(1.),
            gt_global_orient=torch.randn(3, generator=g) * 0.5,
            gt_body_pose=torch.randn(69, generator=g) * 0.2,
            gt_betas=torch.randn(10, generator=g))
        for i, gender in enumerate(genders)
    ]


def _predict(samples, angles=ANGLES, follow_view=True):
    """Write the view fields: the GT rotated by -phi (``follow_view``, the
    definition of the target, built with the geometry helpers) or the
    canonical GT at every view (a predictor that ignores phi)."""
    for s in samples:
        root = axis_angle_to_rotmat(s['gt_global_orient'])  # (3, 3)
        pose = axis_angle_to_rotmat(s['gt_body_pose'].reshape(23, 3))
        phi = torch.deg2rad(torch.tensor(angles))
        roots = (
            rotate_global_orient_to_view(root.expand(len(angles), 3, 3), phi)
            if follow_view else root.expand(len(angles), 3, 3))
        s['pred_view_angles'] = torch.tensor(angles)
        s['pred_view_rotmat'] = torch.cat([
            roots[:, None], pose.expand(len(angles), 23, 3, 3)
        ],
                                          dim=1)
        s['pred_view_betas'] = s['gt_betas'].expand(len(angles), 10).clone()
        s['pred_global_orient'] = root[None]
    return samples


def _evaluate(metric, samples):
    metric.results.clear()
    metric.process({}, samples)
    try:
        return metric.compute_metrics(metric.results)
    finally:
        metric.results.clear()


def _gt_joints14(metric, samples):
    """GT pelvis-centred 14 joints (MeshMetric's protocol), metres."""
    params = {
        k: torch.stack([s[f'gt_{k}'] for s in samples])
        for k in ('global_orient', 'body_pose', 'betas')
    }
    with torch.no_grad():
        verts = metric.body_models['neutral'](**params)['vertices']
    joints = torch.einsum('jv,bvc->bjc',
                          metric.body_models['neutral'].J_regressor_h36m,
                          verts).double().numpy()
    return (joints - joints[:, H36M_PELVIS:H36M_PELVIS + 1])[:, H36M_TO_J14]


def test_registered():
    assert METRICS.get('UnseenViewMetric') is UnseenViewMetric


# ----------------------------------------------------------------------
# Functional pieces


def test_rotation_angle_deg():
    rng = np.random.default_rng(0)
    base = axis_angle_to_rotmat(torch.as_tensor(rng.normal(size=(5, 3))))
    for deg in (0., 1e-4, 30., 90., 179.9, 180.):
        turn = rotation_y(math.radians(deg), base) @ base  # angle exactly deg
        np.testing.assert_allclose(
            rotation_angle_deg(turn, base), deg, atol=1e-6)
    # Any axis: the angle of a rotation vector is its norm.
    vec = torch.tensor([[0.3, -0.4, 1.2]], dtype=torch.float64)
    np.testing.assert_allclose(
        rotation_angle_deg(axis_angle_to_rotmat(vec) @ base[:1], base[:1]),
        np.degrees(vec.norm().item()),
        rtol=1e-9)
    with pytest.raises(ValueError, match=r'\[\.\.\., 3, 3\]'):
        rotation_angle_deg(np.eye(3)[None], np.eye(3))


def test_view_targets_follow_the_geometry_convention():
    x = np.array([[[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]]])  # (1, 2, 3)
    out = view_target_joints(x, [90.0, 360.0])
    assert out.shape == (1, 2, 2, 3)
    # R_y(-90) = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]: (x, y, z) -> (-z, y, x)
    np.testing.assert_allclose(out[0, 0], [[0, 2, 1], [-3, -1, 0]], atol=1e-12)
    np.testing.assert_allclose(out[0, 1], x[0], atol=1e-12)  # a full turn
    root = axis_angle_to_rotmat(torch.tensor([[0.2, 0.5, -0.1]]))
    orient = view_target_orient(root, [90.0])
    expected = rotation_y(-math.pi / 2, root.double()) @ root.double()
    np.testing.assert_allclose(orient[0, 0], expected[0].numpy(), atol=1e-7)


def test_mask_iou():
    a = torch.zeros(3, 8, 8, dtype=torch.bool)
    a[:, 2:6, 2:6] = True
    b = torch.zeros_like(a)
    b[1, :2, :2] = True  # disjoint from a[1]
    b[2, 2:6, 2:4] = True  # half of a[2]
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    np.testing.assert_allclose(mask_iou(a, a), 1.0)  # identical
    np.testing.assert_allclose(mask_iou(a, b)[1:], [0.0, 0.5])
    np.testing.assert_allclose(mask_iou(empty, empty), [1.0])  # convention
    np.testing.assert_allclose(mask_iou(empty, a[:1]), [0.0])


# ----------------------------------------------------------------------
# The metric


def test_view_following_predictor_scores_zero(metric):
    # The prediction is the target by definition (GT rotated by -phi with
    # the geometry helpers): 0 at every view, and at the canonical view.
    result = _evaluate(metric, _predict(_gt_samples(['neutral'] * 3)))
    names = [f'{a:g}' for a in ANGLES]
    assert set(result) == ({'nv_mpjpe', 'orient_err', 'orient_err_0'}
                           | {f'nv_mpjpe_{n}'
                              for n in names}
                           | {f'orient_err_{n}'
                              for n in names})
    assert list(result)[0] == 'nv_mpjpe'  # save_best='auto'
    for key, value in result.items():
        assert value == pytest.approx(0, abs=2e-3), key  # mm / degrees


def test_view_ignoring_predictor_closed_form(metric):
    samples = _predict(_gt_samples(['neutral'] * 3), follow_view=False)
    result = _evaluate(metric, samples)
    x = _gt_joints14(metric, samples)  # (N, 14, 3) pelvis-centred, metres
    radius = np.hypot(x[..., 0], x[..., 2])  # distance to the y axis
    for deg in ANGLES:
        phi = math.radians(deg)
        # The prediction is x, the target R_y(-phi) x: a rotation about the
        # y axis moves a point on a circle of radius sqrt(x^2 + z^2) by the
        # chord 2 sin(phi/2) * radius (y unchanged). |sin(phi/2)| covers
        # phi > 180 too (the chord of 270 degrees is that of 90).
        chord = 2 * abs(math.sin(phi / 2)) * radius
        assert result[f'nv_mpjpe_{deg:g}'] == pytest.approx(
            1000 * chord.mean(axis=1).mean(), rel=1e-4)
        # R_gt^T R_y(-phi) R_gt is a rotation by phi (about R_gt^T y): the
        # geodesic angle is phi, folded into [0, 180].
        folded = deg if deg <= 180 else 360 - deg
        assert result[f'orient_err_{deg:g}'] == pytest.approx(folded, abs=1e-4)
    assert result['orient_err'] == pytest.approx(
        np.mean([30, 90, 180, 90]), abs=1e-4)
    assert result['nv_mpjpe'] == pytest.approx(
        np.mean([result[f'nv_mpjpe_{a:g}'] for a in ANGLES]))
    assert result['orient_err_0'] == pytest.approx(0, abs=1e-3)


def test_gendered_gt_matches_mesh_metric(metric, body_model_root):
    # Gendered GT, neutral prediction of the GT parameters rotated by -phi:
    # the error is the gender's template difference only, and a rotation
    # keeps distances, so every view scores MeshMetric's mpjpe of the
    # canonical prediction (same protocol, same GT body model).
    samples = _predict(_gt_samples(['male', 'female', 1]))
    result = _evaluate(metric, samples)
    mesh = MeshMetric(body_model=dict(type='SMPL', model_path=body_model_root))
    for s in samples:
        s['pred_body_pose'] = axis_angle_to_rotmat(s['gt_body_pose'].reshape(
            23, 3))
        s['pred_betas'] = s['gt_betas']
    mesh.process({}, samples)
    reference = mesh.compute_metrics(mesh.results)['mpjpe']
    assert reference > 0.1
    for deg in ANGLES:
        assert result[f'nv_mpjpe_{deg:g}'] == pytest.approx(
            reference, rel=1e-4)


def test_silhouette_iou_over_valid_samples(metric):
    samples = _predict(_gt_samples(['neutral'] * 3), angles=(90., 180.))
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[:, 4:12, 4:12] = True
    disjoint = torch.zeros_like(mask)
    disjoint[:, :2, :2] = True
    for s, pred, valid in zip(samples, (mask, disjoint, disjoint),
                              (1., 1., 0.)):
        s['pred_view_silhouette'] = pred
        s['gt_view_silhouette'] = mask.clone()
        s['gt_view_silhouette_valid'] = torch.full((2, ), valid)
    # Sample 0 identical (1), sample 1 disjoint (0), sample 2 not counted.
    result = _evaluate(metric, samples)
    assert result['nv_iou_90'] == result['nv_iou_180'] == \
        result['nv_iou'] == pytest.approx(0.5)
    samples[0]['gt_view_silhouette'] = mask[:1]
    with pytest.raises(
            ValueError,
            match=r'"gt_view_silhouette".*\(2, 16, 16\).*'
            r'\(1, 16, 16\)'):
        _evaluate(metric, samples)
    samples[0]['gt_view_silhouette'] = mask.clone()
    del samples[0]['gt_view_silhouette_valid']
    with pytest.raises(ValueError, match='no "gt_view_silhouette_valid"'):
        _evaluate(metric, samples)


def test_missing_views_and_missing_gt(metric, warnings):
    # No view fields at all: say which config key writes them.
    with pytest.raises(RuntimeError, match='model.test_cfg.nv_angles'):
        _evaluate(metric, _gt_samples(['neutral'] * 2))
    # Samples beyond nv_max_samples carry no views and are left out; a
    # sample without GT SMPL is skipped with one warning that counts them.
    samples = _predict(_gt_samples(['neutral'] * 4))
    samples[1]['has_smpl'] = torch.tensor(0.)
    del samples[2]['gt_betas']
    for key in ('pred_view_angles', 'pred_view_rotmat', 'pred_view_betas'):
        del samples[3][key]
    result = _evaluate(metric, samples)
    assert result['nv_mpjpe'] == pytest.approx(0, abs=2e-3)
    assert len(warnings) == 1
    assert '2 sample(s)' in warnings[0] and '1 evaluated' in warnings[0]


@pytest.mark.parametrize('key, value, match', [
    ('pred_view_rotmat', torch.zeros(
        4, 23, 3, 3), r'"pred_view_rotmat".*\(4, 24, 3, 3\).*\(4, 23, 3, 3\)'),
    ('pred_view_betas', torch.zeros(
        3, 10), r'"pred_view_betas".*\(4, 10\).*\(3, 10\)'),
    ('pred_view_angles', torch.tensor([0., 90., 180., 270.]), r'\(0, 360\)'),
    ('pred_view_betas', None, r'not \[.pred_view_betas.\]'),
])
def test_bad_view_fields(metric, key, value, match):
    samples = _predict(_gt_samples(['neutral']))
    samples[0][key] = value
    with pytest.raises(ValueError, match=match):
        _evaluate(metric, samples)


def test_angles_must_agree(metric):
    samples = _predict(_gt_samples(['neutral'])) + \
        _predict(_gt_samples(['neutral'], seed=1), angles=(90., ))
    with pytest.raises(ValueError, match='different views'):
        _evaluate(metric, samples)
