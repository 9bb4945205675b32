"""MeshMetric end-to-end on the synthetic body model, ESVMetric; both
refuse to pass a constant (dead) model off as a good one."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from mmhuman_imphmr.evaluation import ESVMetric, MeshMetric
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat


def _gt_samples(genders, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i, gender in enumerate(genders):
        samples.append(
            dict(
                sample_idx=i,
                gender=gender,
                gt_global_orient=torch.randn(3, generator=g) * 0.5,
                gt_body_pose=torch.randn(69, generator=g) * 0.2,
                gt_betas=torch.randn(10, generator=g)))
    return samples


def _as_prediction(samples):
    """Feed the GT parameters back as rotation-matrix predictions."""
    for s in samples:
        s['pred_global_orient'] = axis_angle_to_rotmat(
            s['gt_global_orient'][None])  # (1, 3, 3)
        s['pred_body_pose'] = axis_angle_to_rotmat(s['gt_body_pose'].reshape(
            23, 3))
        s['pred_betas'] = s['gt_betas'].clone()
    return samples


@pytest.fixture(scope='module')
def metric(body_model_root):
    return MeshMetric(body_model=dict(type='SMPL', model_path=body_model_root))


@pytest.fixture
def warnings(monkeypatch):
    """The WARNING messages of the current MMLogger during the test."""
    logged = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning',
                        lambda msg, *a, **k: logged.append(msg))
    return logged


def _evaluate(metric, samples):
    metric.results.clear()
    metric.process({}, samples)
    result = metric.compute_metrics(metric.results)
    metric.results.clear()
    return result


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
    # Five different GT bodies predicted exactly: the prediction varies with
    # the sample (not image-blind); the gendered ones carry no pred_betas, so
    # there is no betas spread.
    assert set(result) == {
        'mpjpe', 'pa_mpjpe', 'pve', 'pred_joints_std', 'pred_image_blind'
    }
    assert result['pred_image_blind'] == 0.0
    assert result['pred_joints_std'] > 1.0  # mm
    for key in ('mpjpe', 'pa_mpjpe', 'pve'):
        assert result[key] == pytest.approx(0, abs=1e-3)  # mm


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
    with pytest.raises(ValueError, match="MeshMetric.*sample_idx=0.*'robot'"):
        metric.process({}, _as_prediction(_gt_samples(['robot'])))


def _gendered_prediction(metric, samples, gender):
    """Predict each sample's GT body through the ``gender`` model."""
    with torch.no_grad():
        for s in samples:
            s['pred_vertices'] = metric.body_models[gender](
                global_orient=s['gt_global_orient'][None],
                body_pose=s['gt_body_pose'][None],
                betas=s['gt_betas'][None])['vertices'][0]
    return samples


@pytest.mark.parametrize('code, gender', [(0, 'male'), (1, 'female'),
                                          (np.int64(0), 'male'),
                                          (np.int32(1), 'female'),
                                          (np.array(1), 'female'),
                                          (torch.tensor(0), 'male'),
                                          ('m', 'male'), ('f', 'female'),
                                          ('F', 'female'), (b'm', 'male')])
def test_mesh_metric_integer_gender_codes(metric, code, gender):
    # The prediction is the GT body of the model the code stands for (SPIN /
    # PARE: 0 = male, 1 = female). It matches the GT mesh exactly only if the
    # metric builds the GT with that same gendered model; read as neutral
    # (the old `str(0 or 'neutral')`) or as the other gender, the synthetic
    # templates differ and the errors are > 0.1 mm (see
    # test_mesh_metric_gender_matters).
    samples = _gendered_prediction(metric, _gt_samples([code] * 2), gender)
    result = _evaluate(metric, samples)
    for key in ('mpjpe', 'pa_mpjpe', 'pve'):
        assert result[key] == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize('code', [2, -1, True, 0.0, '1', np.array([0, 1])])
def test_mesh_metric_refuses_other_gender_codes(metric, code):
    samples = _as_prediction(_gt_samples(['male', code]))
    samples[1]['img_path'] = 'img_1.png'
    with pytest.raises(ValueError) as info:
        metric.process({}, samples)
    message = str(info.value)
    # The error names the sample (index, sample_idx, image) and the value.
    assert message.startswith('MeshMetric: data sample (#1 of the batch, '
                              "sample_idx=1, img_path='img_1.png')")
    assert repr(code) in message and '0 = male, 1 = female' in message
    assert metric.results == []


def test_mesh_metric_flags_image_blind_prediction(metric, warnings):
    # Three different GT bodies, one prediction for all (sample 0's GT
    # parameters): what a dead feature field does. The predictions' spread
    # over the samples is 0 up to float32 rounding (same inputs to the same
    # body model; rows of one batched float32 product differ by ~1e-9 m), so
    # the flag is set and a warning explains it; the errors stay what they
    # are (finite, and 0 for sample 0 only).
    samples = _as_prediction(_gt_samples(['neutral'] * 3))
    for s in samples[1:]:
        for key in ('pred_global_orient', 'pred_body_pose', 'pred_betas'):
            s[key] = samples[0][key].clone()
    result = _evaluate(metric, samples)
    assert result['pred_image_blind'] == 1.0
    assert result['pred_betas_std'] == 0.0
    assert result['pred_joints_std'] < 1e-4  # mm
    assert result['mpjpe'] > 1.0
    assert len(warnings) == 1
    assert 'MeshMetric: the predictions do not depend on the image' in \
        warnings[0]
    # The GT given back (a prediction that follows the image): no flag, no
    # warning; the betas spread is that of the GT betas (randn, ~1).
    warnings.clear()
    result = _evaluate(metric, _as_prediction(_gt_samples(['neutral'] * 3)))
    assert result['pred_image_blind'] == 0.0
    assert result['pred_betas_std'] > 0.1
    assert warnings == []


def test_mesh_metric_warns_on_constant_betas_only(metric, warnings):
    # Pose follows the image, betas do not: not image-blind as a whole, but
    # the shape estimate is a constant, which the log says.
    samples = _as_prediction(_gt_samples(['neutral'] * 3))
    for s in samples:
        s['pred_betas'] = torch.zeros(10)
    result = _evaluate(metric, samples)
    assert result['pred_image_blind'] == 0.0
    assert result['pred_betas_std'] == 0.0
    assert len(warnings) == 1 and 'betas do not depend' in warnings[0]


PHI = torch.deg2rad(torch.arange(360.0))  # the paper's 0..359 degrees


def test_esv_metric(warnings):
    metric = ESVMetric()
    views = torch.zeros(360, 10)
    views[:, 0] = torch.sin(PHI)
    invariant = torch.ones(360, 10)
    metric.process({}, [
        dict(pred_betas_views=views),
        dict(pred_betas_views=invariant),
        dict()
    ])
    result = metric.compute_metrics(metric.results)
    # Mean over the two samples with views: ((1/sqrt2)/10 + 0) / 2, the
    # analytic ESV of the sin sample (see test_functional.test_esv).
    assert result['esv'] == pytest.approx((1 / np.sqrt(2) / 10) / 2, rel=1e-6)
    # Canonical betas (view 0) are 0 and 1: they differ between the images;
    # one sample varies with phi; no opacity given: nothing is flagged.
    assert result['esv_raw'] == result['esv']
    assert result['esv_image_blind'] == result['esv_dead_field'] == \
        result['esv_view_constant'] == 0.0
    # all-0 vs all-1: population std 0.5 in each of the ten coefficients
    assert result['esv_betas_std'] == pytest.approx(0.5)
    assert 'esv_opacity' not in result and warnings == []
    metric.results.clear()
    metric.process({}, [dict(), dict()])
    with pytest.raises(RuntimeError, match='esv_max_samples'):
        metric.compute_metrics(metric.results)


def _fake_model_samples(num=4,
                        view_amp=0.01,
                        image_amp=0.5,
                        opacity=0.6,
                        offset=0.3,
                        seed=0):
    """Samples as the estimator writes them for a fake model whose canonical
    beta is ``offset + image_amp * randn`` per image and whose beta 0 moves
    by ``view_amp * sin(phi)`` with the view; ``opacity=None`` omits
    pred_opacity (a neck that does not render)."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(num):
        beta = offset + image_amp * torch.randn(10, generator=g)
        views = beta.repeat(360, 1)
        views[:, 0] += view_amp * torch.sin(PHI)
        sample = dict(sample_idx=i, pred_betas=beta, pred_betas_views=views)
        if opacity is not None:
            sample['pred_opacity'] = torch.tensor(float(opacity))
        samples.append(sample)
    return samples


def test_esv_dead_model_is_flagged_not_perfect(warnings):
    # A dead field: every image and every view gives the same beta (0.3 for
    # all ten), rendered opacity 0. Its computed ESV is exactly 0 (std of a
    # constant), the best possible value, and means nothing: reported as
    # esv = NaN, flagged three times, computed value in esv_raw.
    metric = ESVMetric()
    metric.process({},
                   _fake_model_samples(view_amp=0., image_amp=0., opacity=0.))
    result = metric.compute_metrics(metric.results)
    assert math.isnan(result['esv'])
    assert result['esv_raw'] == 0.0
    assert result['esv_image_blind'] == 1.0  # spread over images 0
    assert result['esv_dead_field'] == 1.0  # opacity 0 < 1e-3
    assert result['esv_view_constant'] == 1.0  # ESV of every sample 0
    assert result['esv_betas_std'] == 0.0 and result['esv_opacity'] == 0.0
    assert list(result)[0] == 'esv'  # save_best='auto' picks it
    text = ' '.join(warnings)
    assert 'ESVMetric: dead feature field' in text
    assert 'beta is indeed identical at every view' in text
    assert 'reported as esv=nan' in text
    assert 'beta does not depend on the image' in text


def test_esv_healthy_fake_model_is_not_flagged(warnings):
    # Betas differ between images (std ~0.5), beta 0 moves by 0.01 sin(phi)
    # with the view, the field renders (opacity 0.6): every check passes.
    # ESV per sample is 0.01 * (1/sqrt2) / 10 (only beta 0 moves, sin's
    # population std over whole periods is 1/sqrt2), the same for every
    # sample, so the mean is that too.
    metric = ESVMetric()
    metric.process({}, _fake_model_samples())
    result = metric.compute_metrics(metric.results)
    assert result['esv'] == pytest.approx(0.01 / np.sqrt(2) / 10, rel=1e-4)
    assert result['esv_raw'] == result['esv']
    assert result['esv_image_blind'] == result['esv_dead_field'] == \
        result['esv_view_constant'] == 0.0
    assert result['esv_opacity'] == pytest.approx(0.6)
    assert result['esv_betas_std'] > 0.1
    assert warnings == []


@pytest.mark.parametrize(
    'kwargs, flags, nan, why',
    [
        # Dead field although views vary a little: the opacity alone proves
        # the rendered map is ~0, so the ESV is not a measurement.
        (dict(opacity=1e-4), (0, 1, 0), True, 'opacity 1e-4 < 1e-3'),
        # Constant model but no pred_opacity (a neck that does not render or
        # an estimator that does not write it): image-blind and
        # view-constant together still make it a constant.
        (dict(view_amp=0., image_amp=0., opacity=None),
         (1, 0, 1), True, 'one beta for all images and views'),
        # Image-blind but the views do vary: a real (bad) ESV, kept.
        (dict(image_amp=0.), (1, 0, 0), False, 'views vary'),
        # Live, image-dependent, view-invariant (the plain baseline): ESV 0
        # is exact and kept; the flag and a warning say it is trivial.
        (dict(view_amp=0., opacity=None),
         (0, 0, 1), False, 'prediction ignores phi'),
        # float32-level noise (std 1e-8, below atol 1e-7 + rtol 1e-6 x 0.3)
        # is not dependence on the image.
        (dict(view_amp=0., image_amp=1e-8, opacity=0.),
         (1, 1, 1), True, 'ulp-level noise counts as constant'),
    ])
def test_esv_decision_table(kwargs, flags, nan, why, warnings):
    metric = ESVMetric()
    metric.process({}, _fake_model_samples(**kwargs))
    result = metric.compute_metrics(metric.results)
    assert (result['esv_image_blind'], result['esv_dead_field'],
            result['esv_view_constant']) == flags, why
    assert math.isnan(result['esv']) == nan, why
    if not nan:
        assert result['esv'] == result['esv_raw']
    assert len(warnings) == sum(flags) - (flags[1] and flags[2]), why


def test_esv_single_sample_and_bad_opacity(warnings):
    # One image: the image-dependence check needs >= 2; it is skipped and the
    # log says so (the flag 0.0 then means "not checked").
    metric = ESVMetric()
    metric.process({}, _fake_model_samples(num=1))
    result = metric.compute_metrics(metric.results)
    assert result['esv_image_blind'] == 0.0 and 'esv_betas_std' not in result
    assert len(warnings) == 1 and 'cannot check' in warnings[0]
    with pytest.raises(ValueError, match='pred_opacity must be a scalar'):
        metric.process({}, [
            dict(
                pred_betas_views=torch.zeros(4, 10),
                pred_opacity=torch.zeros(4, 4))
        ])
