"""tools/test.py: its flags (mmpose 1.x names) and what they do."""
import glob
import importlib.util
import json
import os.path as osp
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from tiny_runs import tiny_config

from mmhuman_imphmr.body_models import SMPL
from mmhuman_imphmr.engine.cli import build_test_parser, parse_args
from mmhuman_imphmr.engine.launch import build_runner
from mmhuman_imphmr.registry import HOOKS
from mmhuman_imphmr.structures import MeshDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK_START = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'test_tool', osp.join(ROOT, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merged(tool, cfg, *flags, config=QUICK_START):
    args = parse_args(build_test_parser(), [config, 'ckpt.pth', *flags])
    return tool.merge_args(cfg, args)


def _vis_hooks(cfg):
    return [h for h in cfg.custom_hooks if h.type == 'MeshVisualizationHook']


def test_show_dir_draws_test_samples_into_the_folder(tool, tmp_path,
                                                     body_model_root):
    cfg = _merged(tool, Config.fromfile(QUICK_START), '--show-dir', 'vis')
    (hook_cfg, ) = _vis_hooks(cfg)
    assert hook_cfg.test_out_dir == 'vis' and hook_cfg.enable is True
    # The hook the runner would build from that entry draws test samples
    # into <log_dir>/vis (mmpose: <work_dir>/<timestamp>/<show-dir>).
    hook = HOOKS.build(hook_cfg.to_dict())
    smpl = SMPL(model_path=body_model_root)
    runner = SimpleNamespace(
        visualizer=None,
        log_dir=str(tmp_path),
        model=SimpleNamespace(head=SimpleNamespace(body_model=smpl)))
    with torch.no_grad():
        verts = smpl(
            global_orient=torch.tensor([[np.pi, 0.0, 0.0]]),
            body_pose=torch.zeros(1, 69),
            betas=torch.zeros(1, 10))['vertices'][0]
    samples = []
    for i in range(2):
        sample = MeshDataSample(metainfo=dict(sample_idx=7 + i))
        sample.pred_vertices = verts
        sample.pred_cam = torch.tensor([0.9, 0.0, 0.1])
        samples.append(sample)
    hook.before_test_epoch(runner)
    hook.after_test_iter(
        runner, 0,
        dict(inputs=[torch.full((3, 32, 32), 90, dtype=torch.uint8)] * 2),
        samples)
    files = sorted(
        osp.basename(f) for f in glob.glob(osp.join(tmp_path, 'vis', '*.png')))
    assert files == ['test_sample_7.png', 'test_sample_8.png']
    # Without the flag nothing is drawn at test time.
    plain = _merged(tool, Config.fromfile(QUICK_START))
    assert _vis_hooks(plain)[0].get('test_out_dir') is None


def test_show_dir_finds_the_hook_by_type_not_index(tool):
    cfg = Config.fromfile(QUICK_START)
    # Reordered hooks, the hook disabled, and a scoped type name.
    cfg.custom_hooks = [
        dict(type='mmhuman_imphmr.MeshVisualizationHook', enable=False),
        dict(type='EpochSeedHook'),
        dict(type='ValidateBeforeTrainHook')
    ]
    cfg = _merged(tool, cfg, '--show-dir', 'pics', '--show', '--wait-time',
                  '0.5')
    assert cfg.custom_hooks[0] == dict(
        type='mmhuman_imphmr.MeshVisualizationHook',
        enable=True,
        test_out_dir='pics',
        show=True,
        wait_time=0.5)
    assert cfg.custom_hooks[1:] == [
        dict(type='EpochSeedHook'),
        dict(type='ValidateBeforeTrainHook')
    ]
    # A config without one gets one.
    cfg = Config.fromfile(QUICK_START)
    cfg.custom_hooks = [dict(type='EpochSeedHook')]
    cfg = _merged(tool, cfg, '--show-dir', 'pics')
    assert cfg.custom_hooks[-1] == dict(
        type='MeshVisualizationHook', enable=True, test_out_dir='pics')


def test_out_dump_and_work_dir(tool, tmp_path):
    # Train the tiny model one epoch, then evaluate through the tool.
    cfg = tiny_config(str(tmp_path), max_epochs=1)
    cfg.work_dir = str(tmp_path / 'train')
    build_runner(cfg).train()
    config = str(tmp_path / 'tiny_cfg.py')
    tiny_config(str(tmp_path), max_epochs=1).dump(config)
    out, dump = str(tmp_path / 'm' / 'metrics.json'), str(tmp_path / 'p.pkl')
    tool.main([
        config,
        str(tmp_path / 'train' / 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out, '--dump', dump
    ])
    with open(out) as f:
        metrics = json.load(f)
    assert 'esv' in metrics and all(
        isinstance(v, float) for v in metrics.values())
    with open(dump, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 4 and 'pred_betas_views' in predictions[0]
    assert glob.glob(str(tmp_path / 'test' / '*' / '*.log'))
    with pytest.raises(ValueError, match=r"--dump must end with \.pkl"):
        _merged(
            tool, Config.fromfile(config), '--dump', 'x.json', config=config)


def test_metric_list_from_cfg_options_gets_a_named_error(tool):
    # mmengine's DictAction turns "test_evaluator=[{'type':'MeshMetric'}]"
    # into a list of strings; the tool must say so, not fail inside
    # enable_test_time_esv with "'str' object has no attribute 'get'".
    with pytest.raises(ValueError, match=r'test_evaluator\[0\].*found str'):
        _merged(tool, Config.fromfile(QUICK_START), '--cfg-options',
                "test_evaluator=[{'type':'MeshMetric'}]")
    # A list of metric dicts (the quick-start config's own) still merges.
    cfg = _merged(tool, Config.fromfile(QUICK_START))
    assert [m['type']
            for m in cfg.test_evaluator] == ['MeshMetric', 'ESVMetric']
