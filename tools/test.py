"""Evaluate a checkpoint (mmpose 1.x ``tools/test.py`` layout).

Examples::

    python tools/test.py configs/imphmr_r50_mix.py work_dirs/x/best.pth \
        --out work_dirs/x/metrics.json --dump work_dirs/x/predictions.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 8 --out metrics.json
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

from mmhuman_imphmr.engine.atomic_io import atomic_dump_json  # noqa: E402
from mmhuman_imphmr.engine.launch import (  # noqa: E402
    build_runner, distributed_teardown, use_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this .json')
    parser.add_argument(
        '--dump', help='write the predictions (data samples) to this .pkl')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge command-line arguments into the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must end with .pkl, got {args.dump}')
        dump = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, dict):
            metrics = evaluator.get('metrics', evaluator)
            metrics = metrics if isinstance(metrics, list) else [metrics]
            cfg.test_evaluator = [*metrics, dump] if 'metrics' not in \
                evaluator else dict(evaluator, metrics=[*metrics, dump])
        else:
            cfg.test_evaluator = [*evaluator, dump]
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    enable_test_time_esv(cfg)
    use_cpu_distributed(cfg)
    return cfg


def enable_test_time_esv(cfg: Config, max_samples: int = 100) -> None:
    """Let the model predict the 360 views ESV needs when the test
    evaluator asks for ``ESVMetric`` and the config did not set them.

    The configs leave ``model.test_cfg.esv_angles`` unset so that validation
    during training stays cheap; ESV is a test-time metric (paper sec. 6.3).
    """
    evaluator = cfg.get('test_evaluator', [])
    metrics = evaluator.get('metrics', evaluator) if isinstance(
        evaluator, dict) else evaluator
    metrics = metrics if isinstance(metrics, list) else [metrics]
    if not any(m.get('type') == 'ESVMetric' for m in metrics) or \
            'test_cfg' not in cfg.model:  # a model without ImpHMR's options
        return
    test_cfg = cfg.model.test_cfg
    if test_cfg.get('esv_angles') is None:
        test_cfg['esv_angles'] = 360
        test_cfg.setdefault('esv_max_samples', max_samples)
        if test_cfg.get('esv_max_samples') is None:
            test_cfg['esv_max_samples'] = max_samples
        print(f'ESV: predicting 360 views for the first '
              f'{test_cfg["esv_max_samples"]} samples '
              f'(set model.test_cfg.esv_max_samples to change)')


def main() -> None:
    args = parse_args()
    from mmhuman_imphmr.utils import register_all_modules
    register_all_modules()
    cfg = merge_args(Config.fromfile(args.config), args)
    with distributed_teardown():
        metrics = build_runner(cfg).test()
        if args.out and is_main_process():
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            atomic_dump_json({k: float(v) for k, v in metrics.items()},
                             args.out)
            print(f'metrics written to {args.out}')


if __name__ == '__main__':
    main()
