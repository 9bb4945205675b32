"""What ``tools/train.py`` and ``tools/test.py`` share: building the runner
and making a launcher run work on machines without CUDA."""
import contextlib
from typing import Iterator

import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS

from mmhuman_imphmr.utils.cpu_malloc import keep_freed_memory


def build_runner(cfg: Config):
    """Build the config's runner from ``RUNNERS`` (mmpose's tools do so).

    Configs of this project set ``runner_type='FaultTolerantRunner'`` in
    ``_base_/default_runtime.py``: atomic checkpoint writes and weights-only
    checkpoint loading with MMEngine's classes allow-listed (see
    ``mmhuman_imphmr.engine.safe_load``). A config that names no runner gets
    the same one, so ``--resume`` and ``load_from`` are never loaded with
    mmengine's plain ``torch.load`` (which fails on torch >= 2.6).
    """
    if 'runner_type' not in cfg:
        cfg.runner_type = 'FaultTolerantRunner'
    cfg.model_wrapper_cfg = model_wrapper_cfg(cfg)
    # CPU training: reuse freed large blocks instead of new pages per step
    # (mmhuman_imphmr.utils.cpu_malloc; ~13% of a CPU step measured).
    keep_freed_memory()
    return RUNNERS.build(cfg)


def model_wrapper_cfg(cfg: Config) -> dict:
    """The DDP wrapper of a launcher run: the config's, else
    ``NonFiniteCheckDDP`` with mmengine's default arguments.

    MMEngine's ``MMDistributedDataParallel.train_step`` replaces the
    estimator's own, so without this wrapper a distributed run would update
    the weights with a NaN loss that a single-process run refuses
    (``mmhuman_imphmr.engine.nonfinite_loss``). Ignored without a launcher.
    """
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='NonFiniteCheckDDP',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return wrapper


def use_cpu_distributed(cfg: Config) -> None:
    """Make a launcher run work without CUDA (multi-process CPU, gloo).

    NCCL needs GPUs, so the backend becomes gloo. mmengine 0.10's
    ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its
    default DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which DDP rejects
    for CPU modules: the process group is initialised here (the Runner skips
    its own init when one exists) and the wrapper gets ``device_ids=None``.
    """
    if torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', dict())
    cfg.env_cfg.setdefault('dist_cfg', dict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if cfg.launcher == 'none':
        return
    wrapper = model_wrapper_cfg(cfg)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    import torch.distributed as dist
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        # torchrun exports RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
        dist_cfg = {
            k: v
            for k, v in cfg.env_cfg.dist_cfg.items() if k != 'backend'
        }
        if 'timeout' in dist_cfg:  # seconds, as mmengine's init_dist takes
            import datetime
            dist_cfg['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        dist.init_process_group(backend='gloo', **dist_cfg)


def shutdown_distributed(wait_for_all: bool = True) -> None:
    """Tear the default process group down before the interpreter exits.

    A gloo process group left to the interpreter's finalisation can abort the
    process (``terminate called without an active exception``, SIGABRT):
    gloo's worker threads still hold work objects whose tensors need the GIL
    while Python is being torn down (pytorch/pytorch#190489). torchrun then
    reports the whole run as failed although training finished. The tools
    call this at the end of a launcher run; ``wait_for_all`` adds a barrier
    first, so no rank leaves while another still talks to it (skip it on the
    error path, where a dead rank would make the barrier hang).
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    if wait_for_all:
        dist.barrier()
    dist.destroy_process_group()


@contextlib.contextmanager
def distributed_teardown() -> Iterator[None]:
    """Run the body, then :func:`shutdown_distributed`: with the barrier when
    the body succeeded, without it when it raised (the error propagates)."""
    try:
        yield
    except BaseException:
        shutdown_distributed(wait_for_all=False)
        raise
    shutdown_distributed()
