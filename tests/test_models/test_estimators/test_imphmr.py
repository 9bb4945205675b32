"""ImpHMR estimator: losses, masks, gradients, predictions, parameter counts.

Models come from the real configs (``small_model_cfg`` in conftest.py: no
pretrained init, synthetic body model, 16-wide silhouette decoder); inputs are
2 images of 64x64 (ResNet-50 gives a 2x2 map there, enough for every path).
"""
import math
import os.path as osp

import pytest
import torch

from mmhuman_imphmr.models.estimators import loss_routing
from mmhuman_imphmr.utils.constants import LABEL_TYPES
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat, rotation_y

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs')
FULL = 'imphmr_r50_mix.py'
BASELINE = 'baseline_r50_mix.py'
PTN = 'ptn_r50_mix.py'


def _sum(losses, prefix):
    return sum(v for k, v in losses.items() if k.startswith(prefix))


def _calibrated_eval(model, inputs):
    """Eval mode with BatchNorm statistics of ``inputs`` (one cumulative
    pass): with the untouched init statistics (mean 0, var 1) the random
    ResNet's activations explode and saturate every sigmoid downstream."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model.backbone(inputs)
    return model.eval()


ALL_KEYS = {
    'loss_reg_keypoints2d', 'loss_reg_keypoints3d', 'loss_reg_pose',
    'loss_reg_betas', 'loss_reg_cam', 'loss_imag_keypoints3d',
    'loss_imag_pose', 'loss_imag_betas', 'loss_imag_silhouette',
    'loss_cons_pose', 'loss_cons_betas'
}


def test_full_model_loss_keys(build_model, batch):
    model = build_model(FULL)
    inputs, samples = batch(['gt3d', '2d_only'])
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == ALL_KEYS
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
    # GT-3D samples only: no phi2 view is rendered, no L_cons.
    losses = model(*batch(['gt3d', 'gt3d']), mode='loss')
    assert not any(k.startswith('loss_cons') for k in losses)
    # Pseudo-SMPL (EFT) samples alone feed L_imag *and* L_cons.
    losses = model(*batch(['pseudo_smpl', 'pseudo_smpl']), mode='loss')
    assert set(losses) == ALL_KEYS
    assert float(losses['loss_imag_pose'].detach()) > 0
    assert float(losses['loss_cons_pose'].detach()) > 0
    # No 3D joints on them: the 3D terms are 0 (DESIGN §3 assumption).
    assert float(losses['loss_imag_keypoints3d'].detach()) == 0.
    # 2D-only samples still run (L_imag is 0, silhouette head kept in the
    # graph with zero weight).
    losses = model(*batch(['2d_only', '2d_only']), mode='loss')
    assert float(_sum(losses, 'loss_imag').detach()) == 0.
    assert float(losses['loss_cons_pose'].detach()) > 0


def test_every_loss_term_reaches_the_backbone(build_model, batch):
    model = build_model(FULL)
    model.train()
    inputs, samples = batch(['gt3d', '2d_only'])
    losses = model(inputs, samples, mode='loss')
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    for key, value in losses.items():
        grads = torch.autograd.grad(
            value, params, retain_graph=True, allow_unused=True)
        total = sum(float(g.abs().sum()) for g in grads if g is not None)
        assert total > 0, f'{key} does not reach the backbone'


def test_imag_at_phi_zero_equals_reg(build_model, batch, monkeypatch):
    # With every phi forced to 0 and the model in eval mode (no dropout, no
    # density noise) the imagined view IS the canonical view, and the view
    # targets (view_supervision.rotate_targets_to_view at 0) are the GT: the
    # shared terms of L_imag and L_reg must coincide.
    model = build_model(FULL).eval()
    monkeypatch.setattr(
        loss_routing,
        'sample_angles',
        lambda b, v, device, generator=None: torch.zeros(b, v, device=device))
    inputs, samples = batch(['gt3d', 'gt3d'])
    with torch.no_grad():
        losses = model.loss(inputs, samples)
    for term in ('keypoints3d', 'pose', 'betas'):
        reg, imag = losses[f'loss_reg_{term}'], losses[f'loss_imag_{term}']
        assert float(reg) > 0
        assert torch.allclose(reg, imag, rtol=1e-5, atol=1e-7), term


def test_cons_is_zero_for_view_consistent_prediction(build_model):
    # Hand-built predictions of one person seen from phi1 and phi2: the root
    # is R_y(-phi) R (DESIGN §3), body pose and betas do not depend on phi.
    head = build_model(FULL).head
    g = torch.Generator().manual_seed(0)
    root = axis_angle_to_rotmat(torch.randn(3, 3, generator=g))
    body = axis_angle_to_rotmat(0.3 * torch.randn(3, 23, 3, generator=g))
    betas = torch.randn(3, 10, generator=g)
    phi1 = torch.tensor([0.3, 2.0, 5.5])
    phi2 = torch.tensor([4.0, 0.1, 5.5])

    def pred(phi, shape):
        rot = torch.cat([(rotation_y(-phi) @ root)[:, None], body], 1)
        return dict(pred_rotmat=rot, pred_betas=shape)

    routing = loss_routing.LabelTypeRouting()

    def cons_weight(label):
        targets = dict(
            label_type=torch.full((3, ), LABEL_TYPES.index(label)),
            has_smpl=torch.zeros(3),
            has_kp3d=torch.zeros(3))
        return routing.term_weights(targets, 'cons')['pose']

    weight = cons_weight('2d_only')
    losses = head.consistency_loss(
        pred(phi1, betas), pred(phi2, betas), phi1, phi2, sample_weight=weight)
    for value in losses.values():
        assert float(value) < 1e-10
    # Not consistent (wrong view sign) -> positive.
    losses = head.consistency_loss(
        pred(-phi1, betas),
        pred(phi2, betas),
        phi1,
        phi2,
        sample_weight=weight)
    assert float(losses['loss_cons_pose'].detach()) > 1e-3
    # The same inconsistency on GT-3D samples is masked out of L_cons.
    weight = cons_weight('gt3d')
    losses = head.consistency_loss(
        pred(-phi1, betas),
        pred(phi2, 2 * betas),
        phi1,
        phi2,
        sample_weight=weight)
    assert all(float(v) == 0 for v in losses.values())


def test_per_sample_masks_by_input_gradient(build_model, batch):
    # Eval mode: BatchNorm uses running statistics, so image i only
    # influences row i. GT-3D sample 0 feeds L_imag only, 2D-only sample 1
    # L_cons only, pseudo-SMPL sample 2 both.
    inputs, samples = batch(['gt3d', '2d_only', 'pseudo_smpl'])
    model = _calibrated_eval(build_model(FULL), inputs)
    inputs.requires_grad_()
    losses = model.loss(inputs, samples)
    g_imag, = torch.autograd.grad(
        _sum(losses, 'loss_imag'), inputs, retain_graph=True)
    g_cons, = torch.autograd.grad(_sum(losses, 'loss_cons'), inputs)
    seen_imag = [bool(g_imag[i].abs().sum() > 0) for i in range(3)]
    seen_cons = [bool(g_cons[i].abs().sum() > 0) for i in range(3)]
    assert seen_imag == [True, False, True]
    assert seen_cons == [False, True, True]


def test_reg_only_and_plain_baseline(build_model, batch):
    inputs, samples = batch(['gt3d', '2d_only'])
    reg_only = build_model(FULL, {
        'train_cfg.imag': False,
        'train_cfg.cons': False,
        'silhouette_head': None
    })
    keys = set(reg_only(inputs, samples, mode='loss'))
    assert keys == {
        f'loss_reg_{t}'
        for t in ('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam')
    }

    baseline = build_model(BASELINE)
    assert baseline.silhouette_head is None and not baseline.view_aware
    names = [n for n, _ in baseline.named_parameters()]
    modules = [type(m).__name__ for m in baseline.modules()]
    assert not any('field' in n or 'render' in n for n in names)
    assert not any('Field' in m or 'Render' in m for m in modules)
    assert set(baseline(inputs, samples, mode='loss')) == keys


def test_predict_fields_esv_and_views(build_model, batch):
    model = build_model(
        FULL, {
            'test_cfg.esv_angles': 8,
            'test_cfg.esv_max_samples': 1,
            'test_cfg.view_chunk': 3
        })
    inputs, samples = batch(['gt3d', '2d_only'])
    model = _calibrated_eval(model, inputs)
    samples[1].set_metainfo(dict(gender='female'))
    with torch.no_grad():
        out = model.predict(inputs, samples)
        views = model.predict_views(
            inputs, [0., 0.5 * math.pi, math.pi], return_vertices=True)
        tensor = model(inputs, None, mode='tensor')
    shapes = dict(
        pred_global_orient=(3, 3),
        pred_body_pose=(23, 3, 3),
        pred_betas=(10, ),
        pred_cam=(3, ),
        pred_vertices=(6890, 3),
        pred_keypoints3d=(49, 3),
        pred_keypoints2d=(49, 2))
    for sample in out:
        for key, shape in shapes.items():
            assert tuple(sample.get(key).shape) == shape, key
    assert out[1].gender == 'female'  # metainfo passes through
    # ESV subset: sample_idx 0 only, 8 azimuths, chunked 3 + 3 + 2.
    assert tuple(out[0].pred_betas_views.shape) == (8, 10)
    assert 'pred_betas_views' not in out[1]
    assert torch.allclose(
        out[0].pred_betas_views[0], out[0].pred_betas, atol=1e-5)
    assert {
        k: tuple(v.shape)
        for k, v in views.items()
    } == dict(
        betas=(2, 3, 10),
        rotmat=(2, 3, 24, 3, 3),
        cam=(2, 3, 3),
        vertices=(2, 3, 6890, 3),
        silhouette_logits=(2, 3, 128, 128))
    # phi = 0 of predict_views is the canonical prediction; other views differ.
    assert torch.allclose(
        views['betas'][:, 0], tensor['pred_betas'], atol=1e-5)
    assert (views['rotmat'][:, 0] - views['rotmat'][:, 2]).abs().max() > 1e-4
    assert tuple(tensor['silhouette_logits'].shape) == (2, 128, 128)


def test_predict_unseen_views_and_metric(build_model, batch, body_model_root):
    from mmhuman_imphmr.evaluation import UnseenViewMetric
    angles = (90., 180., 270.)
    model = build_model(FULL, {
        'test_cfg.nv_angles': angles,
        'test_cfg.view_chunk': 2
    })
    inputs, samples = batch(['gt3d', '2d_only'])
    model = _calibrated_eval(model, inputs)
    with torch.no_grad():
        out = model.predict(inputs, samples)
        views = model.predict_views(inputs, [math.radians(a) for a in angles])
        tensor = model(inputs, None, mode='tensor')
    shapes = dict(
        pred_view_angles=(3, ),
        pred_view_rotmat=(3, 24, 3, 3),
        pred_view_betas=(3, 10),
        pred_view_silhouette=(3, 128, 128))
    gt_shapes = dict(
        gt_view_silhouette=(3, 128, 128), gt_view_silhouette_valid=(3, ))
    for i, sample in enumerate(out):
        for key, shape in shapes.items():
            value = sample.get(key)
            assert tuple(value.shape) == shape, key
            assert value.device.type == 'cpu' and not value.requires_grad
        assert sample.pred_view_angles.tolist() == list(angles)
        assert sample.pred_view_silhouette.dtype == torch.bool
        # The same views as predict_views (one backbone pass, chunked 2 + 1).
        assert torch.allclose(
            sample.pred_view_rotmat, views['rotmat'][i], atol=1e-5)
        assert torch.allclose(
            sample.pred_view_betas, views['betas'][i], atol=1e-5)
        assert torch.equal(sample.pred_view_silhouette,
                           views['silhouette_logits'][i].sigmoid() > 0.5)
        # The canonical outputs are unchanged.
        assert torch.allclose(
            sample.pred_betas, tensor['pred_betas'][i], atol=1e-5)
    # GT silhouettes only where there is GT SMPL (the 2d_only sample has
    # none); the synthetic camera fits, so the target is valid and not empty.
    for key, shape in gt_shapes.items():
        assert tuple(out[0].get(key).shape) == shape, key
        assert key not in out[1]
    assert out[0].gt_view_silhouette.dtype == torch.bool
    assert out[0].gt_view_silhouette_valid.tolist() == [1., 1., 1.]
    assert out[0].gt_view_silhouette.flatten(1).any(1).all()
    # The metric end to end: the 2d_only sample is skipped (no GT SMPL).
    metric = UnseenViewMetric(
        body_model=dict(type='SMPL', model_path=body_model_root))
    metric.process({}, [s.to_dict() for s in out])
    result = metric.compute_metrics(metric.results)
    expected = {
        f'{k}_{a}'
        for k in ('nv_mpjpe', 'orient_err', 'nv_iou')
        for a in (90, 180, 270)
    }
    expected |= {'nv_mpjpe', 'orient_err', 'nv_iou', 'orient_err_0'}
    assert set(result) == expected
    assert all(math.isfinite(v) for v in result.values())
    assert 0 <= result['nv_iou'] <= 1
    # nv_max_samples: only sample_idx 0 gets the views.
    model.test_cfg['nv_max_samples'] = 1
    _, samples = batch(['gt3d', 'gt3d'])
    with torch.no_grad():
        out = model.predict(inputs, samples)
    assert 'pred_view_rotmat' in out[0] and 'pred_view_rotmat' not in out[1]
    assert 'gt_view_silhouette' not in out[1]


@pytest.mark.parametrize('angles', [90, (0., 90.), (90., 360.), (90., 90.)])
def test_nv_angles_are_checked(build_model, angles):
    with pytest.raises(ValueError, match='nv_angles'):
        build_model(FULL, {'test_cfg.nv_angles': angles})


def test_bad_config_keys_are_refused(build_model):
    with pytest.raises(KeyError, match='unknown keys'):
        build_model(FULL, {'train_cfg.imagination': True})


def test_parts_that_cannot_work_together_fail_at_build(build_model):
    # A silhouette head on a neck that renders no map.
    with pytest.raises(ValueError, match='renders none'):
        build_model(FULL, {
            'neck':
            dict(_delete_=True, type='GlobalPoolNeck', in_channels=2048)
        })
    # A silhouette head that no loss would train (DDP would hang on it).
    with pytest.raises(ValueError, match='imag=False'):
        build_model(FULL, {'train_cfg.imag': False})
    # Silhouette targets rendered with another camera than the regressor's.
    with pytest.raises(ValueError, match='focal_length'):
        build_model(FULL, {'silhouette_head.focal_length': 1000.})


def test_parameter_counts(body_model_root):
    # Counts of the three paper models at their real widths (the paper's
    # 256-wide silhouette decoder included). Run with -s to see them.
    from mmengine.config import Config

    from mmhuman_imphmr.registry import MODELS
    counts = {}
    for name in (FULL, BASELINE, PTN):
        cfg = Config.fromfile(osp.join(CONFIG_DIR, name)).model
        cfg.init_cfg = None
        cfg.head.mean_params = None
        cfg.head.body_model.model_path = body_model_root
        model = MODELS.build(cfg)
        parts = {
            k: sum(p.numel() for p in getattr(model, k).parameters())
            for k in ('backbone', 'neck', 'head')
        }
        parts['silhouette_head'] = (
            0 if model.silhouette_head is None else sum(
                p.numel() for p in model.silhouette_head.parameters()))
        parts['total'] = sum(p.numel() for p in model.parameters())
        counts[name] = parts
        print(f'\n{name}: ' + ', '.join(f'{k} {v / 1e6:.3f}M'
                                        for k, v in parts.items()))
    # Same backbone and regressor; the Table 4 baseline replaces the field
    # and its aggregation by a parameter-matched MLP on the latent (within 2%
    # of ImpHMR's prediction network; the silhouette decoder is
    # training-only and not matched, see LatentMLPNeck).
    assert counts[FULL]['backbone'] == counts[BASELINE]['backbone']
    assert counts[FULL]['head'] == counts[BASELINE]['head']
    predict = counts[FULL]['total'] - counts[FULL]['silhouette_head']
    assert abs(counts[BASELINE]['total'] / predict - 1) < 0.02
    assert counts[BASELINE]['silhouette_head'] == 0


@pytest.mark.parametrize('labels', [['gt3d', '2d_only'], ['gt3d', 'gt3d'],
                                    ['pseudo_smpl', 'pseudo_smpl'],
                                    ['2d_only', '2d_only']])
@pytest.mark.parametrize('config', [FULL, BASELINE, PTN])
def test_every_parameter_gets_a_gradient(build_model, batch, config, labels):
    # DDP (tools/dist_train.sh, find_unused_parameters=False by default)
    # fails on the second iteration when a trainable parameter took no part
    # in the loss, whatever the batch's mix of label types: a batch without
    # any L_imag sample keeps the silhouette head in the graph with zero
    # weight, one without L_cons renders no phi2 (the neck is still used).
    model = build_model(config)
    model.train()
    losses = model(*batch(labels), mode='loss')
    sum(losses.values()).backward()
    unused = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not unused, f'{config} {labels}: no gradient for {unused}'


def test_cons_terms_follow_the_routing(build_model, batch):
    model = build_model(FULL, {'train_cfg.routing.terms.cons': ('pose', )})
    losses = model(*batch(['pseudo_smpl', '2d_only']), mode='loss')
    assert 'loss_cons_pose' in losses and 'loss_cons_betas' not in losses
