"""Inference speed (paper Tables 6/7) and training-step cost of several models.

Protocol of the paper's speed tables: batch 1, a 224 x 224 crop, warm-up
iterations, then ``--iters`` timed forward passes (``torch.cuda.synchronize``
around the clock on GPU). Each model runs ``--repeats`` rounds and the best
round is reported (best-of-N: the least disturbed by other processes on a
shared machine; the rounds of all models are interleaved so that they
share the same load). ``--protocol forward`` (default, Tables 6/7) times the
model's forward only: backbone, neck at ``phi = 0``, regressor and the SMPL
mesh, outputs left on the device; ``--protocol predict`` times
``ImpHMR.predict`` (also writing every output into data samples on the CPU,
the demo's path). The plain HMR (``hmr_r50_mix``, no attention) is the
paper's HMR-EFT reference, reported beside the attention baseline.
``--compile MODE`` wraps the timed forward in ``torch.compile(mode=MODE)``
(``reduce-overhead`` uses CUDA graphs on a GPU: the batch-1 setting).
``--amp`` runs inference under autocast (fp16 on CUDA, bf16 on a CPU with
bf16 units) and the training step through the config's optim wrapper turned
into ``AmpOptimWrapper``, as ``tools/train.py --amp`` does; on a CPU without
bf16 units both fall back to float32 and the report says so.

Models are built from their configs with pretrained initialisation off and
the synthetic body model (generated if missing), so the script runs
anywhere; the body model's files do not change the cost. Default models:
``imphmr_r50_mix`` (4 x 4 map), ``baseline_r50_mix``, ``ptn_r50_mix`` and
ImpHMR with rendered maps of 1, 2 and 6 (``model.neck.map_size``).

``--train-step`` also measures one optimisation step (loss with every view
term, backward, the config's optimizer and gradient clipping through its
optim wrapper) at ``--batch-size`` on a made-up labelled/unlabelled batch,
and the peak memory: ``torch.cuda.max_memory_allocated`` on GPU, the
process high-water mark ``ru_maxrss`` on CPU. Each model is measured in a
fresh subprocess so high-water marks do not mix.

Usage::

    python tools/analysis/benchmark_fps.py --out work_dirs/benchmark.json
    python tools/analysis/benchmark_fps.py --train-step --batch-size 8
    python tools/analysis/benchmark_fps.py --iters 10000 --compile \
        reduce-overhead                                  # on a GPU
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_MODELS = [
    # label, config, cfg overrides (dotted keys)
    ('imphmr_r50_mix', 'configs/imphmr_r50_mix.py', {}),
    ('baseline_r50_mix', 'configs/baseline_r50_mix.py', {}),
    ('ptn_r50_mix', 'configs/ptn_r50_mix.py', {}),
    # the paper's HMR-EFT: plain HMR (SPIN's network), no attention
    ('hmr_r50_mix', 'configs/hmr_r50_mix.py', {}),
    ('imphmr_r50_mix map1', 'configs/imphmr_r50_mix.py', {
        'model.neck.map_size': 1
    }),
    ('imphmr_r50_mix map2', 'configs/imphmr_r50_mix.py', {
        'model.neck.map_size': 2
    }),
    ('imphmr_r50_mix map6', 'configs/imphmr_r50_mix.py', {
        'model.neck.map_size': 6
    }),
]
BASELINE_LABEL = 'baseline_r50_mix'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--configs',
        nargs='+',
        default=None,
        help='config files (default: the paper models); '
        'the label is the file stem')
    parser.add_argument(
        '--map-sizes',
        type=int,
        nargs='*',
        default=None,
        help='with --configs: also each config with these '
        'neck.map_size values')
    parser.add_argument(
        '--baseline',
        default=BASELINE_LABEL,
        help='label the fps ratio is relative to')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--iters', type=int, default=50)
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='timed rounds; the best is reported')
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument(
        '--device', default=None, help='default: cuda if available, else cpu')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (CPU)')
    parser.add_argument(
        '--body-model-root', default='data/body_models_synthetic')
    parser.add_argument(
        '--train-step',
        action='store_true',
        help='also time a training step per model '
        '(subprocess each)')
    parser.add_argument(
        '--batch-size', type=int, default=8, help='batch of the training step')
    parser.add_argument('--train-iters', type=int, default=3)
    parser.add_argument(
        '--train-rounds',
        type=int,
        default=1,
        help='training-step subprocesses per model, '
        'interleaved over the models; the best is kept')
    parser.add_argument(
        '--protocol',
        choices=['forward', 'predict'],
        default='forward',
        help='forward: the model\'s forward only (paper '
        'Tables 6/7); predict: ImpHMR.predict with outputs '
        'written to data samples')
    parser.add_argument(
        '--compile',
        default=None,
        choices=['default', 'reduce-overhead', 'max-autotune'],
        help='torch.compile the timed forward with this mode')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast inference and an AmpOptimWrapper '
        'training step (bf16 on CPUs with bf16 units)')
    parser.add_argument('--out', default='work_dirs/benchmark_fps.json')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def model_list(args: argparse.Namespace) -> List[tuple]:
    if args.configs is None:
        return list(DEFAULT_MODELS)
    models = []
    for config in args.configs:
        stem = osp.splitext(osp.basename(config))[0]
        models.append((stem, config, {}))
        for size in args.map_sizes or []:
            models.append((f'{stem} map{size}', config, {
                'model.neck.map_size': size
            }))
    return models


def device_name(device: str) -> str:
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    from mmhuman_imphmr.engine.amp_optim_wrapper import cpu_name
    name = cpu_name()
    return name if name != 'this CPU' else (platform.processor()
                                            or platform.machine())


def build_model(config: str, overrides: Dict, body_model_root: str,
                device: str) -> torch.nn.Module:
    """The estimator of ``config`` without pretrained weights."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmhuman_imphmr.body_models import ensure_synthetic_body_model
    from mmhuman_imphmr.registry import MODELS
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    path = config if osp.isabs(config) or osp.exists(config) else osp.join(
        ROOT, config)
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(dict(overrides))
    init_default_scope('mmhuman_imphmr')
    register_all_modules(init_default_scope=False)
    if 'synthetic' in osp.basename(osp.normpath(body_model_root)):
        ensure_synthetic_body_model(body_model_root)
    cfg.model.init_cfg = None
    cfg.model.head.body_model.model_path = body_model_root
    cfg.model.head.mean_params = osp.join(body_model_root,
                                          'smpl_mean_params.npz')
    return MODELS.build(cfg.model).to(device)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def amp_dtype(device: str) -> Optional[torch.dtype]:
    """Autocast dtype of ``--amp`` here, or None where it falls back."""
    if device.startswith('cuda'):
        return torch.float16
    from mmhuman_imphmr.engine.amp_optim_wrapper import cpu_bf16_support
    return torch.bfloat16 if cpu_bf16_support() else None


def forward_fn(model: torch.nn.Module, protocol: str):
    """The timed pass of one batch-1 image."""
    from mmhuman_imphmr.structures import MeshDataSample
    if protocol == 'predict':
        return lambda x: model.predict(x, [MeshDataSample()])

    def forward(x: torch.Tensor):
        # backbone, neck at phi = 0, regressor, SMPL mesh; no silhouette
        # decoder (training only) and nothing copied off the device
        feats = model.extract_feat(x)
        latent = model.neck(feats, None).latent
        return model.head(latent, decode=True)

    return forward


@torch.no_grad()
def time_inference(models: List[torch.nn.Module],
                   device: str,
                   size: int,
                   warmup: int,
                   iters: int,
                   repeats: int,
                   protocol: str = 'forward',
                   compile_mode: Optional[str] = None,
                   dtype: Optional[torch.dtype] = None
                   ) -> List[Dict[str, float]]:
    """Best-of-``repeats`` fps of ``iters`` batch-1 passes, per model.

    The rounds are interleaved (round r of every model, then round r + 1),
    so on a shared machine every model sees the same spread of load.
    """
    inputs = torch.randn(1, 3, size, size, device=device)
    device_type = 'cuda' if device.startswith('cuda') else 'cpu'
    fns = []
    for model in models:
        model.eval()
        fn = forward_fn(model, protocol)
        if compile_mode:
            fn = torch.compile(fn, mode=compile_mode)
        fns.append(fn)

    def call(fn):
        with torch.autocast(
                device_type,
                dtype=dtype or torch.float32,
                enabled=dtype is not None):
            return fn(inputs)

    for fn in fns:
        for _ in range(max(warmup, 3 if compile_mode else 0)):
            call(fn)
    rounds: List[List[float]] = [[] for _ in models]
    for _ in range(repeats):
        for m, fn in enumerate(fns):
            _sync(device)
            start = time.perf_counter()
            for _ in range(iters):
                call(fn)
            _sync(device)
            rounds[m].append(time.perf_counter() - start)
    out = []
    for times in rounds:
        best = min(times)
        out.append(
            dict(
                fps=iters / best,
                ms_per_image=1000 * best / iters,
                fps_mean=iters * len(times) / sum(times)))
    return out


def fake_batch(batch: int, size: int, device: str):
    """Inputs and samples: first half with SMPL labels, second half without
    (so every loss term of ImpHMR runs: L_reg, L_imag + silhouette, L_cons)."""
    from mmhuman_imphmr.structures import MeshDataSample
    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(batch):
        s = MeshDataSample()
        labelled = float(i < max(1, batch // 2))
        kp2d = torch.rand(49, 3, generator=gen) * 1.6 - 0.8
        kp2d[:, 2] = 1.0
        s.gt_keypoints2d = kp2d
        s.gt_keypoints3d = torch.cat(
            [torch.randn(24, 3, generator=gen) * 0.3,
             torch.ones(24, 1)], 1)
        s.gt_global_orient = torch.tensor([3.1416, 0.0, 0.0])
        s.gt_body_pose = torch.randn(69, generator=gen) * 0.1
        s.gt_betas = torch.randn(10, generator=gen) * 0.5
        s.has_smpl = torch.tensor(labelled)
        s.has_kp3d = torch.tensor(labelled)
        samples.append(s.to(device))
    return torch.randn(batch, 3, size, size, device=device), samples


def build_optim_wrapper(model, config: str, amp: bool, device: str):
    """The config's optim wrapper (optimizer, clipping), ``AmpOptimWrapper``
    with ``amp`` as ``tools/train.py --amp`` makes it, a plain
    ``OptimWrapper`` (float32) without ``amp`` even where the config asks
    for mixed precision."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper as build
    path = config if osp.isabs(config) or osp.exists(config) else osp.join(
        ROOT, config)
    cfg = Config.fromfile(path).optim_wrapper
    if amp:
        cfg.type = 'AmpOptimWrapper'
        cfg.setdefault('loss_scale', 'dynamic')
        cfg.device = 'cuda' if device.startswith('cuda') else 'cpu'
    elif cfg.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        # A config that trains in mixed precision (the quick start): without
        # --amp the step is timed in float32, with the config's optimizer
        # and clipping, so that the two columns compare the two precisions.
        cfg.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp', 'device', 'force'):
            cfg.pop(key, None)
    return build(model, cfg)


def time_train_step(model,
                    device: str,
                    size: int,
                    batch: int,
                    iters: int,
                    optim_wrapper=None) -> Dict[str, float]:
    """Best time of ``iters`` steps (after a warm-up step), peak memory."""
    model.train()
    if optim_wrapper is None:
        from mmengine.optim import OptimWrapper
        optim_wrapper = OptimWrapper(
            torch.optim.Adam(model.parameters(), lr=5e-5))
    inputs, samples = fake_batch(batch, size, device)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(iters + 1):
        _sync(device)
        start = time.perf_counter()
        with optim_wrapper.optim_context(model):
            losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        optim_wrapper.update_params(loss)
        _sync(device)
        if step > 0:  # the first step allocates (warm-up)
            times.append(time.perf_counter() - start)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
        kind = 'torch.cuda.max_memory_allocated'
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        kind = 'ru_maxrss (process high-water mark)'
    amp_on = bool(getattr(
        optim_wrapper, 'enabled',
        False)) or (device.startswith('cuda')
                    and type(optim_wrapper).__name__ == 'AmpOptimWrapper')
    return dict(
        step_s=min(times),
        step_s_mean=sum(times) / len(times),
        peak_memory_mb=peak,
        memory_kind=kind,
        optim_wrapper=type(optim_wrapper).__name__,
        optimizer=repr(optim_wrapper.optimizer).splitlines()[0],
        amp_active=amp_on,
        loss_terms=sorted(losses))


def run_worker(args: argparse.Namespace) -> None:
    """Subprocess: one model's training step, JSON on the last stdout line."""
    spec = json.loads(args.worker)
    model = build_model(spec['config'], spec['overrides'],
                        args.body_model_root, args.device)
    wrapper = build_optim_wrapper(model, spec['config'], args.amp, args.device)
    result = time_train_step(model, args.device, args.input_size,
                             args.batch_size, args.train_iters, wrapper)
    print(json.dumps(result))


def train_step_subprocess(args, label: str, config: str,
                          overrides: Dict) -> Dict:
    argv = [
        sys.executable,
        osp.abspath(__file__), '--worker',
        json.dumps(dict(config=config, overrides=overrides)), '--device',
        args.device, '--input-size',
        str(args.input_size), '--batch-size',
        str(args.batch_size), '--train-iters',
        str(args.train_iters), '--body-model-root', args.body_model_root
    ]
    if args.amp:
        argv.append('--amp')
    if args.threads:
        argv += ['--threads', str(args.threads)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ, 'PYTHONPATH':
            ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')
        })
    if proc.returncode != 0:
        raise RuntimeError(f'training-step benchmark of {label} failed:\n'
                           f'{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(results: List[Dict], train: bool) -> None:
    head = f'{"model":<24}{"fps":>9}{"ms/img":>9}{"ratio":>8}'
    if train:
        head += f'{"step s":>9}{"step x":>8}{"peak MB":>10}'
    print(head)
    print('-' * len(head))
    for r in results:
        ratio = r.get('ratio_to_baseline')
        ratio = '-' if ratio is None else f'{ratio:.3f}'
        line = (f'{r["label"]:<24}{r["fps"]:>9.2f}{r["ms_per_image"]:>9.1f}'
                f'{ratio:>8}')
        if train:
            step_x = r['train'].get('step_ratio_to_baseline')
            step_x = '-' if step_x is None else f'{step_x:.3f}'
            line += (f'{r["train"]["step_s"]:>9.3f}{step_x:>8}'
                     f'{r["train"]["peak_memory_mb"]:>10.0f}')
        print(line)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    # as training does (engine.launch.build_runner): freed large blocks are
    # reused, in the parent and in every training-step worker
    from mmhuman_imphmr.utils.cpu_malloc import keep_freed_memory
    keep_freed_memory()
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker is not None:
        run_worker(args)
        return {}
    specs = model_list(args)
    models, results = [], []
    for label, config, overrides in specs:
        model = build_model(config, overrides, args.body_model_root,
                            args.device)
        models.append(model)
        results.append(
            dict(
                label=label,
                config=config,
                overrides=overrides,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6))
    dtype = amp_dtype(args.device) if args.amp else None
    if args.amp and dtype is None:
        print(f'--amp: {device_name(args.device)} has no bf16 matrix units: '
              'inference and training steps run in float32')
    timings = time_inference(models, args.device, args.input_size, args.warmup,
                             args.iters, args.repeats, args.protocol,
                             args.compile, dtype)
    del models
    for entry, timing in zip(results, timings):
        entry.update(timing)
    # Training steps: one subprocess per model and round, rounds interleaved
    # (A B C A B C ...) so that every model sees the same spread of load;
    # the best round is kept (its step_s is the best step of that round).
    for _ in range(args.train_rounds if args.train_step else 0):
        for entry, (label, config, overrides) in zip(results, specs):
            train = train_step_subprocess(args, label, config, overrides)
            best = entry.get('train')
            rounds = (best or {}).get('rounds', []) + [train['step_s']]
            if best is None or train['step_s'] < best['step_s']:
                best = train
            best['rounds'] = rounds
            entry['train'] = best
    base = [r for r in results if r['label'] == args.baseline]
    if args.train_step and base:
        for r in results:
            r['train']['step_ratio_to_baseline'] = (
                r['train']['step_s'] / base[0]['train']['step_s'])
    base = [r for r in results if r['label'] == args.baseline]
    for r in results:
        r['ratio_to_baseline'] = r['fps'] / base[0]['fps'] if base else None
    report = dict(
        protocol=dict(
            batch=1,
            input_size=args.input_size,
            warmup=args.warmup,
            iters=args.iters,
            repeats=args.repeats,
            reported='best round (rounds interleaved)',
            timed=('forward: backbone, neck at phi=0, regressor, '
                   'SMPL mesh (outputs on the device)'
                   if args.protocol == 'forward' else
                   'ImpHMR.predict (forward + outputs written to '
                   'data samples)'),
            protocol=args.protocol,
            compile=args.compile,
            amp=args.amp,
            amp_dtype=None if dtype is None else str(dtype),
            baseline=args.baseline,
            train_batch_size=args.batch_size if args.train_step else None),
        device=args.device,
        device_name=device_name(args.device),
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        results=results)
    print_table(results, args.train_step)
    print(f'device: {report["device_name"]} ({args.device}), torch '
          f'{torch.__version__}, {report["threads"]} threads')
    folder = osp.dirname(osp.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, args.out)
    print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()
