"""tools/train.py: how its flags land in the config and what they do.

The flags are parsed by the tool's own parser (``mmhuman_imphmr.engine.cli``)
and merged by the tool's ``merge_args``; the runs use the tiny model of
``tiny_runs.py`` in this process (seconds each).
"""
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from tiny_runs import lr_hook, tiny_config

from mmhuman_imphmr.engine.cli import build_train_parser, parse_args
from mmhuman_imphmr.engine.launch import build_runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def train_tool():
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(*flags, config='configs/x_y.py'):
    return parse_args(build_train_parser(), [config, *flags])


def _cfg(**kwargs):
    return Config(
        dict(dict(optim_wrapper=dict(optimizer=dict(type='Adam'))), **kwargs))


def test_tool_has_no_sys_path_edit():
    # The package is installed (editable); tools import it like any user.
    for tool in ('train.py', 'test.py'):
        with open(osp.join(ROOT, 'tools', tool)) as f:
            source = f.read()
        assert 'sys.path.insert' not in source and \
            'sys.path.append' not in source, tool


def test_work_dir_precedence(train_tool):
    cfg = train_tool.merge_args(_cfg(), _args())
    assert cfg.work_dir == osp.join('./work_dirs', 'x_y')  # mmpose default
    cfg = train_tool.merge_args(_cfg(work_dir='from_cfg'), _args())
    assert cfg.work_dir == 'from_cfg'
    cfg = train_tool.merge_args(
        _cfg(work_dir='from_cfg'), _args('--work-dir', 'from_cli'))
    assert cfg.work_dir == 'from_cli'


def test_resume_auto_and_path(train_tool):
    cfg = train_tool.merge_args(
        _cfg(load_from='pretrained.pth'), _args('--resume'))
    assert cfg.resume is True and cfg.load_from is None  # latest in work_dir
    cfg = train_tool.merge_args(_cfg(), _args('--resume', 'w/epoch_3.pth'))
    assert cfg.resume is True and cfg.load_from == 'w/epoch_3.pth'


def test_seed_and_cfg_options(train_tool):
    cfg = train_tool.merge_args(
        _cfg(randomness=dict(seed=None, deterministic=False)),
        _args('--seed', '7', '--cfg-options', 'train_dataloader.batch_size=8'))
    assert cfg.randomness == dict(seed=7, deterministic=False)
    assert cfg.train_dataloader.batch_size == 8


def test_amp_selects_amp_wrapper_on_any_device(train_tool):
    # As mmpose's --amp, also on a CPU-only machine (the CPU-capable
    # AmpOptimWrapper is in this package's OPTIM_WRAPPERS).
    cfg = train_tool.merge_args(_cfg(), _args('--amp'))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg = train_tool.merge_args(
        _cfg(
            optim_wrapper=dict(
                type='AmpOptimWrapper',
                loss_scale=512.,
                optimizer=dict(type='Adam'))), _args('--amp'))
    assert cfg.optim_wrapper.loss_scale == 512.  # the config's is kept
    with pytest.raises(ValueError, match="found 'ApexOptimWrapper'"):
        train_tool.merge_args(
            _cfg(optim_wrapper=dict(type='ApexOptimWrapper')), _args('--amp'))


def test_auto_scale_lr_scales_by_the_total_batch(train_tool, tmp_path):
    # base_batch_size=8, batch 2 on one process: lr 0.01 * 2 / 8. Without
    # the flag the config's lr is used (auto_scale_lr.enable=False).
    def trained_lr(*flags):
        cfg = train_tool.merge_args(
            tiny_config(str(tmp_path), max_epochs=1),
            _args('--work-dir', str(tmp_path / '-'.join(flags or ['plain'])),
                  *flags))
        runner = build_runner(cfg)
        runner.train()
        return lr_hook(runner).lrs

    assert trained_lr() == pytest.approx([0.01] * 2)
    assert trained_lr('--auto-scale-lr') == pytest.approx([0.0025] * 2)


def test_auto_scale_lr_needs_a_base_batch_size(train_tool):
    with pytest.raises(
            ValueError,
            match=r'configs/x_y.py: --auto-scale-lr '
            r'needs auto_scale_lr = dict\(base_batch_size'):
        train_tool.merge_args(_cfg(), _args('--auto-scale-lr'))
    # The paper config's schedule declares it (adam_50e.py: batch 64).
    config = osp.join(ROOT, 'configs', 'imphmr_r50_mix.py')
    cfg = train_tool.merge_args(
        Config.fromfile(config), _args('--auto-scale-lr', config=config))
    assert cfg.auto_scale_lr == dict(base_batch_size=64, enable=True)


def test_no_validate_trains_without_validation(train_tool, tmp_path, capsys):

    def run(*flags):
        work_dir = str(tmp_path / ('novalidate' if flags else 'validate'))
        cfg = train_tool.merge_args(
            tiny_config(str(tmp_path)), _args('--work-dir', work_dir, *flags))
        runner = build_runner(cfg)
        runner.train()
        with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
            return runner, f.read()

    def validated_epochs(log):
        return set(re.findall(r'Epoch\(val\) \[(\d+)\]\[2/2\]\s+esv', log))

    runner, log = run()
    # The config validates the untrained model and every epoch: 0, 1, 2.
    assert validated_epochs(log) == {'0', '1', '2'}
    assert runner.val_loop is not None
    runner, log = run('--no-validate')
    assert runner.val_loop is None
    assert 'Epoch(val)' not in log and 'Epoch(train) [2][2/2]' in log
    assert osp.isfile(osp.join(runner.work_dir, 'epoch_2.pth'))
    # Quiet start: the environment and config went to the log file only.
    out = capsys.readouterr().out
    assert 'System environment' in log and 'Config:' in log
    assert 'System environment' not in out and 'Config:\n' not in out
    assert 'Hooks will be executed' not in out
    assert 'Environment, config and hook order: written to' in out


def test_verbose_prints_the_start_up_tables(train_tool, tmp_path, capsys):
    cfg = train_tool.merge_args(
        tiny_config(str(tmp_path)),
        _args('--work-dir', str(tmp_path / 'w'), '--verbose'))
    assert cfg.print_startup_info is True
    build_runner(cfg)
    out = capsys.readouterr().out
    assert 'System environment' in out and 'Hooks will be executed' in out
    assert torch.__version__ in out
