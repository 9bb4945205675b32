"""Does the training data loader keep up with the training step?

Measures, for the ``train_dataloader`` of a config (built as training builds
it: ``Runner.build_dataloader``, the config's pipeline and collate):

1. **per-worker rate**: images/s of the pipeline in this process, sample by
   sample (``dataset[i]``: load, decode, augment, pack) -- what one worker
   delivers on one free core;
2. **loader rate**: images/s of the real ``DataLoader`` with
   ``--num-workers`` workers over ``--batches`` batches after the first
   (worker start-up excluded), with a trivial consumer;
3. with ``--measure-step``: the config's model trained on those batches
   (loss, backward, the config's optim wrapper), i.e. the images/s the step
   consumes, and the **loader wait** of each step -- the time ``next()`` on
   the loader blocked while the model was ready. A loader that keeps up has
   a wait near 0 and a rate above the step's.

A verdict line compares the rates: the loader is not the bottleneck when its
rate exceeds the step's consumption (``--step-s`` gives a step time measured
elsewhere, e.g. on a GPU, instead of ``--measure-step``).

For the real-data recipe on a machine without the datasets, generate
synthetic images at a photo-like size (decode cost grows with the pixels)
and use the recipe's pipeline::

    python tools/generate_synthetic_dataset.py /tmp/syn512 --num-train 256 \\
        --num-val 0 --image-size 512
    python tools/analysis/dataloader_throughput.py \\
        configs/_base_/datasets/mix_train.py --data-root /tmp/syn512 \\
        --num-workers 2 --batch-size 64 --batches 4

Usage for the quick start (its own data; generated if missing)::

    python tools/analysis/dataloader_throughput.py --measure-step
"""
import argparse
import importlib.util
import os
import os.path as osp
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK_START = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')


def _memory_tool():
    """Sibling dataloader_memory.py (builds the loader as training does)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'dataloader_memory.py')
    spec = importlib.util.spec_from_file_location('dataloader_memory', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config',
        nargs='?',
        default=QUICK_START,
        help='config with a train_dataloader (default: the '
        'quick start)')
    parser.add_argument(
        '--data-root',
        default=None,
        help='HumanImageDataset over <data-root>/<ann-file> '
        'with the config\'s pipeline')
    parser.add_argument('--ann-file', default='synthetic_train.npz')
    parser.add_argument(
        '--num-workers', type=int, default=None, help='default: the config\'s')
    parser.add_argument(
        '--batch-size', type=int, default=None, help='default: the config\'s')
    parser.add_argument(
        '--batches',
        type=int,
        default=10,
        help='timed batches after the first')
    parser.add_argument(
        '--samples',
        type=int,
        default=64,
        help='samples for the per-worker rate')
    parser.add_argument(
        '--measure-step',
        action='store_true',
        help='train the config\'s model on the batches and '
        'measure its consumption and the loader wait')
    parser.add_argument(
        '--step-s',
        type=float,
        default=None,
        help='a step time measured elsewhere (s), instead '
        'of --measure-step')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads of this process')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default=None,
        help='key=value overrides of the config (the model '
        'of --measure-step, e.g. the body model path)')
    parser.add_argument(
        '--out',
        default='work_dirs/dataloader_throughput.json',
        help='JSON report ("" to skip)')
    return parser.parse_args(argv)


def _loader_args(args: argparse.Namespace, num_workers: int):
    ns = argparse.Namespace(**vars(args))
    ns.num_workers = num_workers
    return ns


def per_worker_rate(loader, samples: int) -> Dict[str, float]:
    """images/s of ``dataset[i]`` in this process."""
    dataset = loader.dataset
    n = min(samples, len(dataset))
    dataset[0]  # lazy init (annotation cache, first decode)
    start = time.perf_counter()
    for i in range(n):
        dataset[(i * 7919) % len(dataset)]  # spread over the file
    seconds = time.perf_counter() - start
    return dict(
        samples=n,
        seconds=seconds,
        images_per_s=n / seconds,
        ms_per_image=1000 * seconds / n)


def loader_rate(loader, batches: int, consume) -> Dict[str, float]:
    it = iter(loader)
    first = time.perf_counter()
    consume(next(it))  # workers start, first batch
    start = time.perf_counter()
    images = done = 0
    for batch in it:
        consume(batch)
        images += len(batch['inputs'])
        done += 1
        if done >= batches:
            break
    seconds = time.perf_counter() - start
    return dict(
        batches=done,
        images=images,
        seconds=seconds,
        first_batch_s=start - first,
        images_per_s=images / max(seconds, 1e-9))


def step_rate(loader,
              config: str,
              batches: int,
              cfg_options: Optional[dict] = None) -> Dict[str, float]:
    """Train the config's model on the loader's batches: the step's
    consumption and how long each step waited for its batch."""
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from mmhuman_imphmr.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    it = iter(loader)
    waits, steps = [], []
    images = 0
    for i in range(batches + 1):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        model.train_step(batch, wrapper)
        t2 = time.perf_counter()
        if i > 0:  # the first batch starts the workers
            waits.append(t1 - t0)
            steps.append(t2 - t1)
            images += len(batch['inputs'])
    del it
    total = sum(waits) + sum(steps)
    return dict(
        batches=len(steps),
        step_s=sum(steps) / len(steps),
        wait_s=sum(waits) / len(waits),
        wait_fraction=sum(waits) / total,
        images_per_s=images / sum(steps),
        torch_threads=torch.get_num_threads())


def run(args: argparse.Namespace) -> dict:
    import torch
    from mmengine.config import Config

    from mmhuman_imphmr.engine.amp_optim_wrapper import cpu_name
    if args.threads:
        torch.set_num_threads(args.threads)
    tool = _memory_tool()
    cfg = Config.fromfile(args.config)
    workers = (
        args.num_workers if args.num_workers is not None else
        cfg.train_dataloader.get('num_workers', 0))
    single = tool.build_dataloader(_loader_args(args, 0))
    report = dict(
        config=args.config,
        data_root=args.data_root,
        cpu=cpu_name(),
        cores=os.cpu_count(),
        batch_size=single.batch_size,
        num_workers=workers,
        per_worker=per_worker_rate(single, args.samples))
    del single
    loader = tool.build_dataloader(_loader_args(args, workers))
    report['loader'] = loader_rate(loader, args.batches, tool.consume)
    if args.measure_step:
        report['step'] = step_rate(loader, args.config, args.batches,
                                   args.cfg_options)
        consumption = report['step']['images_per_s']
    elif args.step_s:
        report['step'] = dict(step_s=args.step_s, given=True)
        consumption = report['batch_size'] / args.step_s
    else:
        consumption = None
    del loader
    report['consumption_images_per_s'] = consumption
    if consumption is not None:
        keeps_up = report['loader']['images_per_s'] >= consumption
        report['keeps_up'] = keeps_up
        report['headroom'] = report['loader']['images_per_s'] / consumption
    return report


def print_report(r: dict) -> None:
    pw, ld = r['per_worker'], r['loader']
    print(f'{r["config"]} ({r["cpu"]}, {r["cores"]} cores), batch '
          f'{r["batch_size"]}, {r["num_workers"]} workers')
    print(f'  pipeline, one process: {pw["images_per_s"]:.1f} images/s '
          f'({pw["ms_per_image"]:.1f} ms per image)')
    print(f'  loader, {r["num_workers"]} workers: {ld["images_per_s"]:.1f} '
          f'images/s (first batch {ld["first_batch_s"]:.1f} s)')
    step = r.get('step')
    if step and not step.get('given'):
        print(f'  training step: {step["step_s"]:.3f} s = '
              f'{step["images_per_s"]:.1f} images/s; waited for data '
              f'{step["wait_s"] * 1000:.1f} ms per step '
              f'({100 * step["wait_fraction"]:.1f}% of the time)')
    if r.get('consumption_images_per_s') is not None:
        print(f'  verdict: the loader '
              f'{"keeps up" if r["keeps_up"] else "is the bottleneck"} '
              f'({r["headroom"]:.2f}x the step\'s '
              f'{r["consumption_images_per_s"]:.1f} images/s)')


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    if args.out:
        from mmhuman_imphmr.engine import atomic_dump_json
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        atomic_dump_json(report, args.out, indent=1)
        print(f'written {args.out}')
    return report


if __name__ == '__main__':
    main()
