"""Train a model from a config (mmpose 1.x ``tools/train.py`` layout).

Examples::

    python tools/train.py configs/imphmr_r50_mix.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --seed 0
    python tools/train.py CONFIG --resume                # latest in work_dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_3.pth
    bash tools/dist_train.sh CONFIG 8                    # 8 GPUs (torchrun)
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a mesh recovery model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed (overrides randomness.seed)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (e.g. '
        'train_dataloader.batch_size=8)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none',
                        help='job launcher')
    # torch.distributed.launch passes --local_rank / --local-rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class _RestrictedPickle:
    """A ``pickle_module`` for ``torch.load`` that resolves an allow-list.

    mmengine 0.10 checkpoints hold, besides tensors, the message hub's
    ``HistoryBuffer`` objects, numpy arrays/scalars and, inside the buffers'
    state, ``getattr(HistoryBuffer, 'min')``-style references. torch >= 2.6
    loads with ``weights_only=True`` and rejects them (DESIGN §7);
    allow-listing ``getattr`` there would allow any attribute chain. Here the
    globals are torch's own weights-only allow-list plus exactly those
    classes, and ``getattr`` only returns public attributes of
    ``HistoryBuffer``. Safe loading is never turned off.
    """
    import pickle as _pickle
    load = _pickle.load
    loads = _pickle.loads
    UnpicklingError = _pickle.UnpicklingError

    class Unpickler(_pickle.Unpickler):

        def find_class(self, module, name):
            allowed = _checkpoint_globals()
            key = f'{module}.{name}'
            if key in allowed:
                return allowed[key]
            raise _RestrictedPickle.UnpicklingError(
                f'checkpoint: refusing to load global "{key}" (not a class '
                f'an mmengine checkpoint holds); convert the file or load '
                f'it explicitly if you trust it')


def _checkpoint_globals() -> dict:
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    from torch._weights_only_unpickler import _get_allowed_globals

    def history_getattr(obj, name):
        if obj is HistoryBuffer and not name.startswith('_'):
            return getattr(obj, name)
        raise _RestrictedPickle.UnpicklingError(
            f'checkpoint: refusing getattr({obj!r}, {name!r})')

    allowed = dict(_get_allowed_globals())
    allowed.update({f'{getattr(g, "__module__", "")}.{g.__name__}': g
                    for g in torch.serialization.get_safe_globals()
                    if hasattr(g, '__name__')})
    allowed['mmengine.logging.history_buffer.HistoryBuffer'] = HistoryBuffer
    for core in ('numpy.core', 'numpy._core'):
        multiarray = np.core.multiarray
        allowed[f'{core}.multiarray._reconstruct'] = multiarray._reconstruct
        allowed[f'{core}.multiarray.scalar'] = multiarray.scalar
    allowed['numpy.ndarray'] = np.ndarray
    allowed['numpy.dtype'] = np.dtype
    for t in (np.float16, np.float32, np.float64, np.int8, np.int16,
              np.int32, np.int64, np.uint8, np.bool_):
        cls = type(np.dtype(t))
        allowed[f'numpy.dtypes.{cls.__name__}'] = cls
    allowed['__builtin__.getattr'] = history_getattr
    allowed['builtins.getattr'] = history_getattr
    return allowed


def use_restricted_checkpoint_loader() -> None:
    """Load local checkpoints (``load_from``, ``--resume``) through
    :class:`_RestrictedPickle` instead of mmengine's plain ``torch.load``."""
    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return torch.load(filename, map_location=map_location,
                          weights_only=False, pickle_module=_RestrictedPickle)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge command-line arguments into the config."""
    cfg.launcher = args.launcher
    # work_dir: --work-dir > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in the config.')
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.seed is not None:
        cfg.setdefault('randomness', dict())
        cfg.randomness.seed = args.seed
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    use_cpu_distributed(cfg)
    return cfg


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
    wrapper = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    import torch.distributed as dist
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        # torchrun exports RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
        dist_cfg = {k: v for k, v in cfg.env_cfg.dist_cfg.items()
                    if k != 'backend'}
        if 'timeout' in dist_cfg:  # seconds, as mmengine's init_dist takes
            import datetime
            dist_cfg['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        dist.init_process_group(backend='gloo', **dist_cfg)


def main() -> None:
    args = parse_args()
    from mmhuman_imphmr.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    use_restricted_checkpoint_loader()  # for --resume and load_from
    # runner_type (default_runtime.py: FaultTolerantRunner, atomic
    # checkpoints) is built from RUNNERS, as mmpose's tools do.
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
