"""MeshMetric end-to-end on the synthetic body model, ESVMetric."""
import numpy as np
import pytest
import torch

from mmhuman_imphmr.evaluation import ESVMetric, MeshMetric
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat


def _gt_samples(genders, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i, gender in enumerate(genders):
        samples.append(dict(
            sample_idx=i, gender=gender,
            gt_global_orient=torch.randn(3, generator=g) * 0.5,
            gt_body_pose=torch.randn(69, generator=g) * 0.2,
            gt_betas=torch.randn(10, generator=g)))
    return samples


def _as_prediction(samples):
    """Feed the GT parameters back as rotation-matrix predictions."""
    for s in samples:
        s['pred_global_orient'] = axis_angle_to_rotmat(
            s['gt_global_orient'][None])  # (1, 3, 3)
        s['pred_body_pose'] = axis_angle_to_rotmat(
            s['gt_body_pose'].reshape(23, 3))
        s['pred_betas'] = s['gt_betas'].clone()
    return samples


@pytest.fixture(scope='module')
def metric(body_model_root):
    return MeshMetric(body_model=dict(type='SMPL', model_path=body_model_root))


def test_mesh_metric_zero_for_gt(metric):
    # Neutral GT: prediction (neutral model, GT params) equals the GT mesh.
    samples = _as_prediction(_gt_samples(['neutral'] * 3))
    metric.process({}, samples)
    # Gendered GT given back as vertices of the gendered model: also exact.
    gendered = _gt_samples(['male', 'female'], seed=1)
    with torch.no_grad():
        for s in gendered:
            s['pred_vertices'] = metric.body_models[s['gender']](
                global_orient=s['gt_global_orient'][None],
                body_pose=s['gt_body_pose'][None],
                betas=s['gt_betas'][None])['vertices'][0]
    metric.process({}, gendered)
    result = metric.compute_metrics(metric.results)
    metric.results.clear()
    assert set(result) == {'mpjpe', 'pa_mpjpe', 'pve'}
    for value in result.values():
        assert value == pytest.approx(0, abs=1e-3)  # mm


def test_mesh_metric_gender_matters(metric):
    # Same parameters, GT from the gendered models, prediction neutral: the
    # synthetic male/female templates differ from the neutral one, so the
    # errors are non-zero (this is why 3DPW must use gendered GT).
    samples = _as_prediction(_gt_samples(['male', 'female']))
    metric.process({}, samples)
    result = metric.compute_metrics(metric.results)
    metric.results.clear()
    assert result['mpjpe'] > 0.1 and result['pve'] > 0.1
    assert result['pa_mpjpe'] <= result['mpjpe'] + 1e-6


def test_mesh_metric_translation_and_errors(metric):
    samples = _gt_samples(['neutral'])
    with torch.no_grad():
        verts = metric.body_models['neutral'](
            global_orient=samples[0]['gt_global_orient'][None],
            body_pose=samples[0]['gt_body_pose'][None],
            betas=samples[0]['gt_betas'][None])['vertices'][0]
    # A translated copy: MPJPE / PA-MPJPE 0 (pelvis / Procrustes alignment),
    # PVE = the translation length, since PVE aligns nothing.
    samples[0]['pred_vertices'] = verts + torch.tensor([0.0, 0.03, 0.04])
    metric.process({}, samples)
    result = metric.compute_metrics(metric.results)
    metric.results.clear()
    assert result['mpjpe'] == pytest.approx(0, abs=1e-3)
    assert result['pa_mpjpe'] == pytest.approx(0, abs=1e-3)
    assert result['pve'] == pytest.approx(50.0, rel=1e-4)
    with pytest.raises(KeyError, match='pred_vertices'):
        metric.process({}, _gt_samples(['male']))
    with pytest.raises(ValueError, match='unknown gender'):
        metric.process({}, _as_prediction(_gt_samples(['robot'])))


def test_esv_metric():
    metric = ESVMetric()
    phi = torch.deg2rad(torch.arange(360.0))
    views = torch.zeros(360, 10)
    views[:, 0] = torch.sin(phi)
    invariant = torch.ones(360, 10)
    metric.process({}, [dict(pred_betas_views=views),
                        dict(pred_betas_views=invariant), dict()])
    # Mean over the two samples with views: ((1/sqrt2)/10 + 0) / 2, the
    # analytic ESV of the sin sample (see test_functional.test_esv).
    assert metric.compute_metrics(metric.results)['esv'] == pytest.approx(
        (1 / np.sqrt(2) / 10) / 2, rel=1e-6)
    metric.results.clear()
    metric.process({}, [dict(), dict()])
    with pytest.raises(RuntimeError, match='esv_max_samples'):
        metric.compute_metrics(metric.results)
