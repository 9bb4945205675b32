"""The Table 4 baseline is parameter-matched to ImpHMR (paper sec. 4.2: "the
same model architecture and the number of parameters as ImpHMR (except
AGG)"), and the plain HMR model is SPIN's.

Counted over the network that makes a prediction (backbone + neck +
regressor). ImpHMR's silhouette decoder (9.1 M parameters) is left out of the
comparison: it is used only for training (paper sec. 3.3), it needs a rendered
map the baseline does not have, and Table 4's "L_reg" row, the one the
baseline is compared with, has none (configs/ablations/table4_reg_coco.py).
"""
import os.path as osp

import pytest
from mmengine.config import Config

CONFIG_DIR = osp.normpath(
    osp.join(osp.dirname(__file__), '..', '..', '..', 'configs'))


def _cfg(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def _count(module):
    return 0 if module is None else sum(p.numel() for p in module.parameters())


@pytest.fixture(scope='module')
def counts(body_model_root):
    from mmhuman_imphmr.registry import MODELS
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    register_all_modules()
    out = {}
    for name in ('imphmr_r50_mix.py', 'baseline_r50_mix.py', 'hmr_r50_mix.py'):
        cfg = _cfg(name).model  # real widths: ResNet-50, 2048 channels
        cfg.init_cfg = None
        cfg.head.mean_params = None
        cfg.head.body_model.model_path = body_model_root
        model = MODELS.build(cfg)
        out[name] = {
            k: _count(getattr(model, k))
            for k in ('backbone', 'neck', 'head', 'silhouette_head')
        }
        out[name]['total'] = _count(model)
    return out


def test_baseline_is_within_2_percent_of_imphmr(counts, capsys):
    imphmr, baseline = counts['imphmr_r50_mix.py'], counts[
        'baseline_r50_mix.py']
    with capsys.disabled():
        print('\nparameters:', counts)
    assert baseline['silhouette_head'] == 0
    assert baseline['backbone'] == imphmr['backbone']
    assert baseline['head'] == imphmr['head']
    predictor = imphmr['total'] - imphmr['silhouette_head']
    assert abs(baseline['total'] - predictor) / predictor < 0.02
    # the field's MLP minus what only the field and AGG use: AGG (2048 x 16
    # weights + 2048 biases), the gamma(x), skip gamma(x) and gamma(r) input
    # layers (2 x (60 x 128 + 128) + 24 x 128 + 128) and sigma (128 + 1)
    assert imphmr['neck'] - baseline['neck'] == 34_816 + 18_816 + 129
    assert (baseline['total'], predictor) == (28_160_705, 28_214_466)


def test_table4_baseline_is_the_same_model():
    """The COCO ablation row uses the very same baseline model."""
    coco = _cfg('ablations/table4_baseline_coco.py').model
    mix = _cfg('baseline_r50_mix.py').model
    assert coco == mix
    assert coco.neck.type == 'LatentMLPNeck' and coco.silhouette_head is None
    reg = _cfg('ablations/table4_reg_coco.py').model  # Table 4 "L_reg"
    assert reg.silhouette_head is None and reg.neck.type == 'FeatureFieldNeck'


def test_plain_hmr_is_backbone_gap_regressor(counts):
    hmr, imphmr = counts['hmr_r50_mix.py'], counts['imphmr_r50_mix.py']
    assert hmr['neck'] == 0 and hmr['silhouette_head'] == 0
    assert hmr['total'] == imphmr['backbone'] + imphmr['head']
    cfg = _cfg('hmr_r50_mix.py').model
    assert cfg.neck == dict(
        type='GlobalPoolNeck', in_channels=2048, use_attention=False)
    assert not cfg.train_cfg.imag and not cfg.train_cfg.cons
