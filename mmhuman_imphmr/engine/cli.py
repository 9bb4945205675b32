"""The command lines of ``tools/train.py`` and ``tools/test.py``.

Both tools are a few lines over this module (mmpose 1.x layout: parse the
arguments, merge them into the config, ``Runner.from_cfg``); the flags mean
what mmpose's do:

==================  =======================================================
train               ``--work-dir``, ``--resume [PATH]``, ``--amp``,
                    ``--auto-scale-lr``, ``--no-validate``, ``--seed``,
                    ``--cfg-options``, ``--launcher``, ``--verbose``
test                ``--work-dir``, ``--out``, ``--dump``, ``--show-dir``,
                    ``--show``, ``--wait-time``, ``--cfg-options``,
                    ``--launcher``, ``--verbose``
==================  =======================================================

Errors name the config file and key, what was expected and what was found.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction

VIS_HOOK = 'MeshVisualizationHook'

# ----------------------------------------------------------------------
# Parsers


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--work-dir',
        help='the dir to save logs and models (default: the '
        "config's work_dir, else ./work_dirs/<config name>)")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (e.g. '
        'train_dataloader.batch_size=8); applied after the other flags '
        '(except --no-validate)')
    parser.add_argument(
        '--verbose',
        action='store_true',
        help='also print the environment, the config and the hook order to '
        'the terminal (they always go to the log file in the work dir)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local_rank / --local-rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_train_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/train.py``."""
    parser = argparse.ArgumentParser(description='Train a mesh recovery model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work dir. A larger train_cfg.max_epochs '
        '(--cfg-options) continues on the schedule of the longer run')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training (AmpOptimWrapper)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate linearly by the total batch size over '
        "the config's auto_scale_lr.base_batch_size")
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not validate during training (no val dataloader is built)')
    parser.add_argument(
        '--seed',
        type=int,
        default=None,
        help='random seed (overrides randomness.seed)')
    _add_common(parser)
    return parser


def build_test_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/test.py``."""
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this .json')
    parser.add_argument(
        '--dump', help='write the predictions (data samples) to this .pkl')
    parser.add_argument(
        '--show-dir',
        help='draw test predictions into this folder (relative to '
        '<work_dir>/<timestamp>/, as mmpose); MeshVisualizationHook.'
        'max_samples of them')
    parser.add_argument(
        '--show',
        action='store_true',
        help='display the drawn test predictions in a window')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=1.0,
        help='seconds each --show window stays (default 1)')
    _add_common(parser)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` for old launchers."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


# ----------------------------------------------------------------------
# Merging into the config


def _config_name(cfg: Config, args: argparse.Namespace) -> str:
    return cfg.filename or args.config


def merge_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """``--launcher``, the work dir and ``--verbose`` (both tools)."""
    cfg.launcher = args.launcher
    # work_dir: --work-dir > config > ./work_dirs/<config name> (mmpose)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.verbose:
        # Read by FaultTolerantRunner (engine/fault_tolerant_runner.py).
        cfg.print_startup_info = True
    return cfg


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the arguments of ``tools/train.py`` into ``cfg`` (in place)."""
    from .launch import use_cpu_distributed
    merge_common_args(cfg, args)
    if args.amp:
        # As mmpose: AmpOptimWrapper with a dynamic loss scale. The wrapper
        # is looked up in this package's OPTIM_WRAPPERS first (a CPU-capable
        # one lives there), then in mmengine's.
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in the config.')
        else:
            if optim_wrapper != 'OptimWrapper':
                raise ValueError(
                    f'{_config_name(cfg, args)}: --amp replaces '
                    f'optim_wrapper.type=\'OptimWrapper\' by '
                    f'\'AmpOptimWrapper\'; found {optim_wrapper!r}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr', None)
        if not isinstance(scale, dict) or 'base_batch_size' not in scale:
            raise ValueError(
                f'{_config_name(cfg, args)}: --auto-scale-lr needs '
                f'auto_scale_lr = dict(base_batch_size=<the total batch the '
                f'lr is for>) in the config (see configs/_base_/schedules/'
                f'adam_50e.py); found auto_scale_lr={scale!r}')
        cfg.auto_scale_lr.enable = True
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
    if args.no_validate:
        # After --cfg-options, so that options shared by the val and test
        # dataloaders (their data root, say) can still be given.
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    use_cpu_distributed(cfg)
    return cfg


def merge_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the arguments of ``tools/test.py`` into ``cfg`` (in place)."""
    from .launch import use_cpu_distributed
    merge_common_args(cfg, args)
    cfg.load_from = args.checkpoint
    if args.show_dir is not None or args.show:
        for hook in visualization_hooks(cfg, args):
            hook['enable'] = True
            if args.show_dir is not None:
                hook['test_out_dir'] = args.show_dir
            if args.show:
                hook['show'] = True
                hook['wait_time'] = args.wait_time
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must end with .pkl or .pickle, found '
                             f'{args.dump!r}')
        add_test_metric(cfg, dict(type='DumpResults', out_file_path=args.dump))
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    use_cpu_distributed(cfg)
    return cfg


def visualization_hooks(cfg: Config,
                        args: Optional[argparse.Namespace] = None
                        ) -> List[dict]:
    """The config's ``MeshVisualizationHook`` entries, found by type (in
    ``custom_hooks`` or ``default_hooks``); one is added to
    ``custom_hooks`` when the config has none."""

    def is_vis(hook) -> bool:
        kind = hook.get('type') if isinstance(hook, dict) else None
        if isinstance(kind, type):
            kind = kind.__name__
        return isinstance(kind, str) and kind.split('.')[-1] == VIS_HOOK

    custom = cfg.get('custom_hooks', None) or []
    default = cfg.get('default_hooks', None) or {}
    found = [h for h in custom if is_vis(h)] + \
        [h for h in default.values() if is_vis(h)]
    if not found:
        name = _config_name(cfg, args) if args is not None else 'the config'
        print(f'{name}: no {VIS_HOOK} in custom_hooks or default_hooks; '
              f'adding one for --show-dir / --show')
        hook = dict(type=VIS_HOOK)
        cfg.custom_hooks = [*custom, hook]
        found = [cfg.custom_hooks[-1]]
    return found


def add_test_metric(cfg: Config, metric: dict) -> None:
    """Append ``metric`` to ``cfg.test_evaluator`` (a metric dict, a list
    of them, or an ``Evaluator`` dict with ``metrics``)."""
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator['metrics']
        metrics = metrics if isinstance(metrics, list) else [metrics]
        cfg.test_evaluator = dict(evaluator, metrics=[*metrics, metric])
    elif isinstance(evaluator, dict):
        cfg.test_evaluator = [evaluator, metric]
    else:
        cfg.test_evaluator = [*evaluator, metric]
