"""tools/train.py: how command-line arguments land in the config."""
import argparse
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def train_tool():
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(**kwargs):
    base = dict(config='configs/x_y.py', work_dir=None, resume=None,
                amp=False, seed=None, cfg_options=None, launcher='none')
    base.update(kwargs)
    return argparse.Namespace(**base)


def _cfg(**kwargs):
    return Config(dict(optim_wrapper=dict(optimizer=dict(type='Adam')),
                       **kwargs))


def test_work_dir_precedence(train_tool):
    cfg = train_tool.merge_args(_cfg(), _args())
    assert cfg.work_dir == osp.join('./work_dirs', 'x_y')  # mmpose default
    cfg = train_tool.merge_args(_cfg(work_dir='from_cfg'), _args())
    assert cfg.work_dir == 'from_cfg'
    cfg = train_tool.merge_args(_cfg(work_dir='from_cfg'),
                                _args(work_dir='from_cli'))
    assert cfg.work_dir == 'from_cli'


def test_resume_auto_and_path(train_tool):
    cfg = train_tool.merge_args(_cfg(load_from='pretrained.pth'),
                                _args(resume='auto'))
    assert cfg.resume is True and cfg.load_from is None  # latest in work_dir
    cfg = train_tool.merge_args(_cfg(), _args(resume='w/epoch_3.pth'))
    assert cfg.resume is True and cfg.load_from == 'w/epoch_3.pth'


def test_seed_and_cfg_options(train_tool):
    cfg = train_tool.merge_args(
        _cfg(randomness=dict(seed=None, deterministic=False)),
        _args(seed=7, cfg_options={'train_dataloader.batch_size': 8}))
    assert cfg.randomness == dict(seed=7, deterministic=False)
    assert cfg.train_dataloader.batch_size == 8


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_amp_on_cpu_is_refused_clearly(train_tool):
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train_tool.merge_args(_cfg(), _args(amp=True))


def test_amp_selects_amp_wrapper(train_tool, monkeypatch):
    import mmengine.device
    monkeypatch.setattr(mmengine.device, 'get_device', lambda: 'cuda')
    cfg = train_tool.merge_args(_cfg(), _args(amp=True))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
