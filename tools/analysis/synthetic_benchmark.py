"""The synthetic benchmark: the paper's Table 3 / Table 4 rows, trained and
evaluated the same way on the embedded synthetic data.

Every config of ``configs/synthetic_benchmark/`` (a short diff over
``base.py``) is trained for the same number of iterations with each seed,
then evaluated on the same val split: canonical MPJPE / PA-MPJPE / PVE
(``MeshMetric``), unseen-view MPJPE, global-orientation error and silhouette
IoU at 90 / 180 / 270 degrees (``UnseenViewMetric``) and ESV
(``ESVMetric``). The results go to a JSON file, a markdown table next to it
and a plot::

    python tools/analysis/synthetic_benchmark.py                 # everything
    python tools/analysis/synthetic_benchmark.py --configs reg reg_imag \\
        --seeds 0 --steps 50 --out /tmp/bench.json               # a piece

Resumable: each (config, seed) run lives in ``<work-dir>/<config>/seed_<s>``
with iteration checkpoints; a finished run has ``result.json`` there and is
skipped, a killed one resumes from its last checkpoint. So the benchmark can
run in pieces; the summary is rewritten from every finished run after each
run. Runs with a different ``--steps`` are never mixed (the run folder is
per step budget).

Each run is a child process (``--single``), so that one run's registries,
threads and memory never leak into the next and a crash is reported with the
run's log path.

The image-blind reference: the PA-MPJPE / MPJPE of predicting, for every val
image, the one mesh of the training set's mean SMPL parameters (mean body
pose in axis-angle, mean betas, mean global orientation as a rotation
average), through the same ``MeshMetric``. A model whose canonical PA-MPJPE
is not clearly below it has not learnt to read the image.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG_DIR = osp.join(ROOT, 'configs', 'synthetic_benchmark')
DEFAULT_CONFIGS = ('baseline', 'ptn', 'reg', 'reg_imag', 'reg_imag_cons')
# Keys summarised per config (mean over seeds), in table order.
SUMMARY_KEYS = ('pa_mpjpe', 'mpjpe', 'pve', 'nv_mpjpe', 'orient_err_0',
                'orient_err', 'nv_iou', 'esv')
PAPER = {  # the paper's numbers for the README table (3DPW, ESV on 3DPW)
    'table3_esv': {'reg': 0.0844, 'reg_imag': 0.0774,
                   'reg_imag_cons': 0.0561},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        '--configs',
        nargs='+',
        default=list(DEFAULT_CONFIGS),
        help='config names in configs/synthetic_benchmark/ (or '
        'paths to .py files)')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    p.add_argument(
        '--steps',
        type=int,
        default=None,
        help='training iterations per run (default: the base '
        'config\'s benchmark_steps)')
    p.add_argument(
        '--pretrain-steps',
        type=int,
        default=None,
        help='iterations of the shared HMR pre-training '
        '(pretrain_hmr.py; default: the base config\'s '
        'pretrain_steps; 0: every config from scratch)')
    p.add_argument(
        '--pretrain-config',
        default='pretrain_hmr',
        help='config of the shared pre-training (name in '
        'configs/synthetic_benchmark/ or a .py path)')
    p.add_argument('--work-dir', default='work_dirs/synthetic_benchmark')
    p.add_argument(
        '--out',
        default='docs/results/synthetic_benchmark.json',
        help='summary JSON; the markdown table and the plot are '
        'written next to it (.md, .png)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides for every run (e.g. '
        'train_dataloader.batch_size=4); they are recorded in '
        'the JSON')
    p.add_argument('--no-plot', action='store_true')
    p.add_argument(
        '--single',
        nargs=3,
        metavar=('CONFIG', 'SEED', 'DIR'),
        help=argparse.SUPPRESS)  # internal: one run, in a child
    p.add_argument('--init-checkpoint', help=argparse.SUPPRESS)  # internal
    p.add_argument('--export', help=argparse.SUPPRESS)  # internal
    return p.parse_args(argv)


def config_path(name: str) -> str:
    path = name if name.endswith('.py') else osp.join(CONFIG_DIR, name + '.py')
    if not osp.isfile(path):
        choices = sorted(f[:-3] for f in os.listdir(CONFIG_DIR)
                         if f.endswith('.py') and f != 'base.py')
        raise SystemExit(f'synthetic_benchmark: no config {path!r}; '
                         f'choices: {choices}')
    return path


def config_name(name: str) -> str:
    return osp.splitext(osp.basename(name))[0]


def base_setting(key: str) -> int:
    from mmengine.config import Config
    return int(Config.fromfile(osp.join(CONFIG_DIR, 'base.py'))[key])


# ----------------------------------------------------------------------
# One run (child process)


def _load_config(path: str,
                 seed: int,
                 steps: int,
                 run_dir: str,
                 options: List[str],
                 init_checkpoint: Optional[str] = None):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(path)
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    # The same budget for every config: iterations, schedule length, and no
    # validation during training (the tool evaluates once at the end).
    cfg.train_cfg.max_iters = steps
    cfg.train_cfg.val_interval = steps + 1
    for scheduler in cfg.param_scheduler:
        if scheduler.get('type') == 'CosineAnnealingLR':
            scheduler['T_max'] = steps
    cfg.default_hooks.checkpoint.interval = min(
        cfg.default_hooks.checkpoint.interval, steps)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = run_dir
    cfg.launcher = 'none'
    cfg.resume = osp.exists(osp.join(run_dir, 'last_checkpoint'))
    cfg.load_from = None
    init = cfg.model.get('init_cfg')
    if init_checkpoint:
        cfg.model.init_cfg = dict(
            type='Pretrained', checkpoint=init_checkpoint)
    elif init and init.get('type') == 'Pretrained' and \
            not init.get('checkpoint'):
        cfg.model.init_cfg = None  # --pretrain-steps 0: from scratch
    return cfg


def run_single(path: str,
               seed: int,
               run_dir: str,
               steps: int,
               options: List[str],
               init_checkpoint: Optional[str] = None,
               export: Optional[str] = None) -> dict:
    """Train (resuming when a checkpoint exists), test, write result.json;
    with ``export``, also save the trained ``backbone.*`` / ``head.*``
    weights there (the initialisation of the benchmark's configs)."""
    import torch

    from mmhuman_imphmr.engine.atomic_io import atomic_write_text
    from mmhuman_imphmr.engine.launch import build_runner
    cfg = _load_config(path, seed, steps, run_dir, options, init_checkpoint)
    resumed = bool(cfg.resume)
    runner = build_runner(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = runner.test()
    test_s = time.perf_counter() - start
    num_params = sum(p.numel() for p in runner.model.parameters())
    if export:
        import io

        from mmhuman_imphmr.engine.atomic_io import atomic_write_bytes
        state = {
            k: v.detach().cpu().clone()
            for k, v in runner.model.state_dict().items()
            if k.startswith(('backbone.', 'head.'))
        }
        buffer = io.BytesIO()
        torch.save(dict(state_dict=state), buffer)
        atomic_write_bytes(export, buffer.getvalue())
    result = dict(
        config=config_name(path),
        seed=seed,
        steps=steps,
        metrics={
            k: float(v)
            for k, v in metrics.items()
        },
        train_seconds=round(train_s, 1),
        test_seconds=round(test_s, 1),
        resumed=resumed,
        num_params=int(num_params),
        init_checkpoint=init_checkpoint,
        torch_threads=torch.get_num_threads(),
        cfg_options=options)
    atomic_write_text(
        osp.join(run_dir, 'result.json'),
        json.dumps(result, indent=1, allow_nan=True))
    return result


# ----------------------------------------------------------------------
# Orchestration


def run_dir_of(work_dir: str, name: str, seed: int, steps: int,
               pretrain_steps: int) -> str:
    return osp.join(work_dir, f'pretrain_{pretrain_steps}_steps_{steps}', name,
                    f'seed_{seed}')


def read_result(run_dir: str) -> Optional[dict]:
    path = osp.join(run_dir, 'result.json')
    if not osp.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'synthetic_benchmark: unreadable {path} ({e}); '
                         f'delete it to rerun that run') from None


def launch(name: str,
           seed: int,
           run_dir: str,
           steps: int,
           options: List[str],
           init_checkpoint: Optional[str] = None,
           export: Optional[str] = None) -> dict:
    os.makedirs(run_dir, exist_ok=True)
    log = osp.join(run_dir, 'benchmark_child.log')
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--steps',
        str(steps), '--single',
        config_path(name),
        str(seed), run_dir
    ]
    if init_checkpoint:
        cmd += ['--init-checkpoint', init_checkpoint]
    if export:
        cmd += ['--export', export]
    if options:
        cmd += ['--cfg-options', *options]
    print(
        f'[synthetic_benchmark] {config_name(name)} seed {seed}: training '
        f'{steps} steps (log {log})',
        flush=True)
    with open(log, 'a') as f:
        code = subprocess.call(
            cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    result = read_result(run_dir)
    if code != 0 or result is None:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise SystemExit(f'synthetic_benchmark: run {config_name(name)} '
                         f'seed {seed} '
                         f'failed (exit {code}); its log is {log}. Rerun '
                         f'the same command to resume it. Last lines:\n'
                         f'{tail}')
    return result


def _mean(values: List[float]) -> float:
    import math
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if len(finite) != len(values):
        return float('nan')  # a NaN seed (e.g. a dead-field ESV) shows
    return sum(finite) / len(finite) if finite else float('nan')


def _std(values: List[float]) -> float:
    m = _mean(values)
    if len(values) < 2 or m != m:
        return float('nan')
    return (sum((v - m)**2 for v in values) / (len(values) - 1))**0.5


def summarise(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    out = {}
    for name, runs in results.items():
        runs = sorted(runs, key=lambda r: r['seed'])
        keys = sorted(set().union(*(r['metrics'] for r in runs)))
        entry = dict(seeds=[r['seed'] for r in runs])
        for k in keys:
            values = [r['metrics'].get(k, float('nan')) for r in runs]
            entry[k] = _mean(values)
            if k in SUMMARY_KEYS:
                entry[k + '_std'] = _std(values)
        entry['train_seconds'] = _mean([r['train_seconds'] for r in runs])
        entry['num_params'] = runs[0]['num_params']
        entry['per_seed'] = [
            dict(
                seed=r['seed'],
                **r['metrics'],
                train_seconds=r['train_seconds'],
                resumed=r['resumed']) for r in runs
        ]
        out[name] = entry
    return out


def data_mean_reference(cfg_path: str) -> dict:
    """Image-blind references of the benchmark's data (train / val files of
    the config's val dataset folder), by
    ``tools/analysis/mean_pose_baseline.py``:
    ``train_mean_pose`` (the training set's rotation-averaged body pose, zero
    betas) and ``smpl_mean_params`` (the regressor's starting estimate)."""
    import importlib.util

    from mmengine.config import Config

    from mmhuman_imphmr.datasets.synthetic import ensure_synthetic_dataset
    cfg = Config.fromfile(cfg_path)
    dataset = cfg.val_dataloader.dataset
    files = ensure_synthetic_dataset(
        out_dir=dataset.data_root, **dataset.generate_cfg)
    spec = importlib.util.spec_from_file_location(
        'mean_pose_baseline',
        osp.join(osp.dirname(osp.abspath(__file__)), 'mean_pose_baseline.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    body_model_root = dataset.generate_cfg.get('body_model_root',
                                               'data/body_models_synthetic')
    results = tool.evaluate(files['train'], files['val'], body_model_root)
    return {
        name: {
            k: float(m[k])
            for k in ('pa_mpjpe', 'mpjpe', 'pve')
        }
        for name, m in results.items()
    }


def describe_device() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(['lscpu'],
                             capture_output=True,
                             text=True,
                             check=False).stdout
        for line in out.splitlines():
            if line.startswith('Model name:'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else os.cpu_count()
    return f'{cpu}, {cores} cores, torch {torch.__version__}, CPU'


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'],
                              cwd=ROOT,
                              capture_output=True,
                              text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def write_outputs(summary: dict, args, steps: int, reference: dict,
                  pretrain_steps: int, pre_result: Optional[dict]) -> None:
    from mmhuman_imphmr.engine.atomic_io import atomic_write_text
    pre = None if pre_result is None else dict(
        config=config_name(args.pretrain_config),
        steps=pretrain_steps,
        seed=0,
        metrics=pre_result['metrics'],
        train_seconds=pre_result['train_seconds'])
    data = dict(
        configs=summary,
        steps=steps,
        seeds=args.seeds,
        pretrain=pre,
        device=describe_device(),
        commit=git_commit(),
        reference=reference,
        cfg_options=args.cfg_options,
        paper=PAPER,
        date=time.strftime('%Y-%m-%d'))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    atomic_write_text(args.out, json.dumps(data, indent=1, allow_nan=True))
    stem = osp.splitext(args.out)[0]
    atomic_write_text(stem + '.md', markdown_table(data))
    if not args.no_plot:
        plot(data, stem + '.png')


def _fmt(entry: dict, key: str, digits: int) -> str:
    v = entry.get(key)
    if v is None:
        return '-'
    if v != v:
        return 'nan'
    s = entry.get(key + '_std')
    text = f'{v:.{digits}f}'
    if s is not None and s == s:
        text += f' ± {s:.{digits}f}'
    return text


def markdown_table(data: dict) -> str:
    cols = [('pa_mpjpe', 'PA-MPJPE', 1), ('mpjpe', 'MPJPE', 1),
            ('pve', 'PVE', 1), ('nv_mpjpe', 'nv-MPJPE 90/180/270', 1),
            ('orient_err_0', 'orient° 0', 1),
            ('orient_err', 'orient° 90/180/270', 1),
            ('nv_iou', 'silh. IoU 90/180/270', 3), ('esv', 'ESV', 4)]
    lines = [
        '| config | seeds | ' + ' | '.join(c[1] for c in cols) + ' |',
        '|---|---|' + '---|' * len(cols)
    ]
    for name, entry in data['configs'].items():
        lines.append(f'| {name} | {len(entry["seeds"])} | ' +
                     ' | '.join(_fmt(entry, k, d) for k, _, d in cols) + ' |')
    for name, ref in data['reference'].items():
        if not isinstance(ref, dict) or 'pa_mpjpe' not in ref:
            continue
        lines.append(f'| {name} | - | {ref["pa_mpjpe"]:.1f} | '
                     f'{ref["mpjpe"]:.1f} | {ref["pve"]:.1f} |' + ' - |' *
                     (len(cols) - 3))
    return ('\n'.join(lines) + '\n\n'
            f'{data["steps"]} training iterations per run, seeds '
            f'{data["seeds"]}, mean ± std over seeds; mm, degrees. Device: '
            f'{data["device"]}; commit {data["commit"][:10]}. Made by '
            f'`python tools/analysis/synthetic_benchmark.py`.\n')


def plot(data: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [('pa_mpjpe', 'canonical PA-MPJPE (mm)'),
            ('nv_mpjpe', 'unseen-view MPJPE (mm)'),
            ('orient_err', 'unseen-view orientation error (deg)'),
            ('esv', 'ESV')]
    names = list(data['configs'])
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6))
    for ax, (key, title) in zip(axes, keys):
        means = [data['configs'][n].get(key, float('nan')) for n in names]
        ax.bar(range(len(names)), means, color='#9ab', edgecolor='k')
        for i, n in enumerate(names):
            seeds = [
                r.get(key, float('nan'))
                for r in data['configs'][n]['per_seed']
            ]
            ax.plot([i] * len(seeds), seeds, 'k.', ms=6)
        if key == 'pa_mpjpe':
            ax.axhline(
                data['reference']['train_mean_pose']['pa_mpjpe'],
                color='r',
                ls='--',
                lw=1,
                label='train mean pose (image-blind)')
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha='right', fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f'synthetic benchmark, {data["steps"]} steps, seeds '
        f'{data["seeds"]} (bars: mean, dots: seeds)',
        fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _check_options(result: dict, args, run_dir: str) -> None:
    if result.get('cfg_options', []) != args.cfg_options:
        raise SystemExit(
            f'synthetic_benchmark: {run_dir} was run with --cfg-options '
            f'{result.get("cfg_options")}, not {args.cfg_options}; use '
            f'another --work-dir')


def pretrain(args, pretrain_steps: int) -> tuple:
    """The shared HMR pre-training (once, seed 0): its result and the path
    of its exported backbone / head weights (None without pre-training)."""
    if pretrain_steps == 0:
        return None, None
    name = config_name(config_path(args.pretrain_config))
    run_dir = osp.join(args.work_dir, f'pretrain_{pretrain_steps}', name,
                       'seed_0')
    export = osp.abspath(osp.join(run_dir, 'backbone_head.pth'))
    result = read_result(run_dir)
    if result is not None:
        _check_options(result, args, run_dir)
    if result is None or not osp.exists(export):
        result = launch(
            config_path(args.pretrain_config),
            0,
            run_dir,
            pretrain_steps,
            args.cfg_options,
            export=export)
    else:
        print(
            f'[synthetic_benchmark] {name}: done before, skipped '
            f'({run_dir})',
            flush=True)
    return result, export


def main(argv=None) -> None:
    args = parse_args(argv)
    steps = args.steps if args.steps is not None else base_setting(
        'benchmark_steps')
    pretrain_steps = (
        args.pretrain_steps
        if args.pretrain_steps is not None else base_setting('pretrain_steps'))
    if steps < 1 or pretrain_steps < 0:
        raise SystemExit(f'synthetic_benchmark: need --steps >= 1 and '
                         f'--pretrain-steps >= 0, found {steps}, '
                         f'{pretrain_steps}')
    if args.single:
        path, seed, run_dir = args.single
        run_single(path, int(seed), run_dir, steps, args.cfg_options,
                   args.init_checkpoint, args.export)
        return
    paths = [config_path(n) for n in args.configs]
    names = [config_name(p) for p in paths]
    path_of = dict(zip(names, paths))
    if len(set(names)) != len(names):
        raise SystemExit(f'synthetic_benchmark: duplicate configs {names}')
    reference = data_mean_reference(paths[0])
    print(
        f'[synthetic_benchmark] image-blind references: {reference}',
        flush=True)
    pre_result, init = pretrain(args, pretrain_steps)
    if pre_result is not None:
        print(
            f'[synthetic_benchmark] pre-training ({pretrain_steps} steps): '
            f'{pre_result["metrics"]}',
            flush=True)
    results: Dict[str, List[dict]] = {n: [] for n in names}
    for name in names:
        for seed in args.seeds:
            run_dir = run_dir_of(args.work_dir, name, seed, steps,
                                 pretrain_steps)
            result = read_result(run_dir)
            if result is not None:
                _check_options(result, args, run_dir)
                print(
                    f'[synthetic_benchmark] {name} seed {seed}: done '
                    f'before, skipped ({run_dir})',
                    flush=True)
            else:
                result = launch(
                    path_of[name],
                    seed,
                    run_dir,
                    steps,
                    args.cfg_options,
                    init_checkpoint=init)
            results[name].append(result)
            done = {n: r for n, r in results.items() if r}
            write_outputs(
                summarise(done), args, steps, reference, pretrain_steps,
                pre_result)
    print(f'[synthetic_benchmark] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
