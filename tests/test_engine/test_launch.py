"""What tools/train.py and tools/test.py do around the runner with a launcher.

The two-process run through torchrun is in tests/test_tools/test_dist_train.py;
here a one-process gloo group (world size 1, no second process needed) checks
the set-up (``use_cpu_distributed``) and the tear-down
(``shutdown_distributed``) directly.
"""
import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from mmhuman_imphmr.engine.launch import (distributed_teardown,
                                          model_wrapper_cfg,
                                          shutdown_distributed,
                                          use_cpu_distributed)

needs_cpu_only = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU/gloo path')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def torchrun_env(monkeypatch):
    """The variables torchrun exports, for a world of one process."""
    for key, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():  # never leak a group into later tests
        dist.destroy_process_group()


@needs_cpu_only
def test_non_launcher_run_only_switches_backend():
    cfg = Config(
        dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    use_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()


@needs_cpu_only
def test_launcher_run_builds_gloo_group_and_cpu_ddp(torchrun_env):
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    use_cpu_distributed(cfg)
    assert dist.is_initialized()
    assert dist.get_backend() == 'gloo'
    assert dist.get_world_size() == 1
    # DDP rejects device_ids for CPU modules; mmengine's default passes them.
    assert cfg.model_wrapper_cfg['device_ids'] is None
    # The wrapper whose train_step checks the loss before the update.
    assert cfg.model_wrapper_cfg['type'] == 'NonFiniteCheckDDP'
    assert cfg.model_wrapper_cfg['find_unused_parameters'] is False


@needs_cpu_only
def test_launcher_run_keeps_the_configs_wrapper(torchrun_env):
    cfg = Config(
        dict(
            launcher='pytorch',
            find_unused_parameters=True,
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel',
                find_unused_parameters=True)))
    use_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        find_unused_parameters=True,
        device_ids=None)


def test_wrapper_default_follows_find_unused_parameters():
    assert model_wrapper_cfg(Config(dict(find_unused_parameters=True))) == \
        dict(type='NonFiniteCheckDDP', broadcast_buffers=False,
             find_unused_parameters=True)


@needs_cpu_only
def test_shutdown_destroys_group_after_barrier(torchrun_env, monkeypatch):
    dist.init_process_group(backend='gloo')
    calls = []
    barrier = dist.barrier
    monkeypatch.setattr(
        dist, 'barrier',
        lambda *a, **k: calls.append('barrier') or barrier(*a, **k))
    shutdown_distributed()
    assert calls == ['barrier']
    assert not dist.is_initialized()
    shutdown_distributed()  # a second call (or a non-launcher run): no-op
    assert calls == ['barrier']


@needs_cpu_only
def test_shutdown_on_error_path_skips_barrier(torchrun_env, monkeypatch):
    # After a failure on one rank a barrier would wait for a dead peer.
    dist.init_process_group(backend='gloo')

    def forbidden(*args, **kwargs):
        raise AssertionError('barrier on the error path')

    monkeypatch.setattr(dist, 'barrier', forbidden)
    shutdown_distributed(wait_for_all=False)
    assert not dist.is_initialized()


@needs_cpu_only
def test_teardown_context(torchrun_env, monkeypatch):
    # What tools/train.py and tools/test.py wrap their run in.
    dist.init_process_group(backend='gloo')
    calls = []
    monkeypatch.setattr(dist, 'barrier', lambda *a, **k: calls.append(1))
    with distributed_teardown():
        pass
    assert calls == [1] and not dist.is_initialized()
    dist.init_process_group(backend='gloo')
    with pytest.raises(RuntimeError, match='boom'):
        with distributed_teardown():
            raise RuntimeError('boom')
    assert calls == [1] and not dist.is_initialized()  # no barrier on error
