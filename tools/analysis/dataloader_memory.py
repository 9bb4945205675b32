"""Memory of a training dataloader over one epoch (parent + workers).

Builds the ``train_dataloader`` of a config the way training does
(``Runner.build_dataloader``: sampler, ``pseudo_collate``, worker seeding),
iterates one full epoch with a trivial consumer (it reduces every input
tensor, so each batch is really produced and read), and samples the resident
memory of the main process and of every dataloader worker from
``/proc/<pid>/status``: before the first batch, after it (workers started,
the reference point), every ``--every`` batches, and at the end.

Per process it records ``VmRSS`` split into ``RssAnon`` (private heap: what a
leak grows) and ``RssFile`` + ``RssShmem`` (file pages, e.g. the
memory-mapped annotation cache of :class:`HumanImageDataset`, and the
shared-memory buffers that carry batches from the workers: page cache
shared between processes, bounded by the files' size), and ``Pss`` /
``Pss_Anon`` (pages split between the processes that map them: totals that
do not count the workers' copy-on-write pages twice; ``Pss`` also moves
when unrelated processes sharing library pages start or exit, ``Pss_Anon``
does not). The verdict uses the anonymous memory of all processes:
``growth = end - after first batch`` of the summed ``RssAnon``.

Usage::

    # the config's own dataset (the synthetic config generates it if missing)
    python tools/analysis/dataloader_memory.py \
        configs/_base_/datasets/synthetic.py

    # a generated synthetic (or any HumanData) folder, config's pipeline
    python tools/generate_synthetic_dataset.py /tmp/syn10k \
        --num-train 10000 --num-val 0
    python tools/analysis/dataloader_memory.py \
        configs/_base_/datasets/synthetic.py \
        --data-root /tmp/syn10k --num-workers 2 --batch-size 16 \
        --out work_dirs/dataloader_memory.json

Without ``--data-root`` the config's dataset is used as it is; with it, the
dataset becomes :class:`HumanImageDataset` over
``<data-root>/<ann-file>`` (default ``synthetic_train.npz``) with the
config's train pipeline, and image paths relative to ``<data-root>``.
``--max-growth-mb`` makes the exit status 1 when the anonymous memory grew
by more than that (for CI).
"""
import argparse
import glob
import json
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

STATUS_FIELDS = ('VmRSS', 'RssAnon', 'RssFile', 'RssShmem', 'VmHWM')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config',
        nargs='?',
        default=osp.join(ROOT, 'configs', '_base_', 'datasets',
                         'synthetic.py'),
        help='config with a train_dataloader (default: the '
        'synthetic dataset config)')
    parser.add_argument(
        '--data-root',
        default=None,
        help='use HumanImageDataset over <data-root>/'
        '<ann-file> with the config\'s pipeline instead of '
        'the config\'s dataset')
    parser.add_argument(
        '--ann-file',
        default='synthetic_train.npz',
        help='annotation file under --data-root')
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument(
        '--batch-size', type=int, default=None, help='default: the config\'s')
    parser.add_argument(
        '--every',
        type=int,
        default=None,
        help='sample memory every N batches (default: about '
        '10 samples per epoch)')
    parser.add_argument(
        '--max-batches',
        type=int,
        default=None,
        help='stop early (tests); default: one full epoch')
    parser.add_argument(
        '--out',
        default='work_dirs/dataloader_memory.json',
        help='JSON report ("" to skip)')
    parser.add_argument(
        '--max-growth-mb',
        type=float,
        default=None,
        help='exit with status 1 when the anonymous memory '
        'of all processes grew by more than this')
    return parser.parse_args(argv)


def read_status(pid: int) -> Optional[Dict[str, float]]:
    """``STATUS_FIELDS`` of ``/proc/<pid>/status`` and ``Pss`` / ``Pss_Anon``
    (proportional set size: shared pages split between their users, so it
    sums correctly over forked workers) of ``/proc/<pid>/smaps_rollup``, in
    MiB (None if the process is gone)."""
    out = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key in STATUS_FIELDS:
                    out[key] = int(value.split()[0]) / 1024.0  # kB -> MiB
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key in ('Pss', 'Pss_Anon'):
                    out[key] = int(value.split()[0]) / 1024.0
    except OSError:  # older kernels: no rollup; PSS left out
        pass
    return out


def child_pids(pid: int) -> List[int]:
    """Children of ``pid`` (``/proc/<pid>/task/*/children``, else the
    multiprocessing children of this process)."""
    found = []
    for path in glob.glob(f'/proc/{pid}/task/*/children'):
        try:
            with open(path) as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            continue
    if not found and pid == os.getpid():
        found = [p.pid for p in mp.active_children() if p.pid]
    return sorted(set(found))


def snapshot(label: str, batches: int, samples: int, start: float) -> dict:
    """Memory of this process and its children right now."""
    parent = read_status(os.getpid())
    workers = []
    for pid in child_pids(os.getpid()):
        status = read_status(pid)
        if status is not None:
            workers.append(dict(pid=pid, **status))
    procs = [parent] + workers
    return dict(
        label=label,
        batches=batches,
        samples=samples,
        elapsed_s=round(time.perf_counter() - start, 2),
        parent=parent,
        workers=workers,
        total_rss_mb=sum(p.get('VmRSS', 0.0) for p in procs),
        total_anon_mb=sum(p.get('RssAnon', 0.0) for p in procs),
        total_pss_mb=sum(p.get('Pss', 0.0) for p in procs),
        total_pss_anon_mb=sum(p.get('Pss_Anon', 0.0) for p in procs))


def build_dataloader(args: argparse.Namespace):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import mmhuman_imphmr.datasets  # noqa: F401  (registers datasets)
    init_default_scope('mmhuman_imphmr')
    cfg = Config.fromfile(args.config)
    if 'train_dataloader' not in cfg:
        raise KeyError(f'{args.config}: no train_dataloader')
    loader_cfg = cfg.train_dataloader.to_dict()  # a plain, private copy
    loader_cfg['num_workers'] = args.num_workers
    loader_cfg['persistent_workers'] = args.num_workers > 0
    if args.batch_size is not None:
        loader_cfg['batch_size'] = args.batch_size
    if args.data_root is not None:
        ann_file = osp.join(args.data_root, args.ann_file)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'--data-root: {ann_file} not found')
        pipeline = _find_pipeline(loader_cfg['dataset'], args.config)
        loader_cfg['dataset'] = dict(
            type='HumanImageDataset',
            ann_file=ann_file,
            data_prefix=dict(img_path=args.data_root),
            pipeline=pipeline,
            check_images=True)
        # one dataset now: the config's sampler may partition a mix
        loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=True)
    return Runner.build_dataloader(loader_cfg, seed=0)


def _find_pipeline(dataset_cfg: dict, config: str) -> list:
    """The pipeline of a dataset config, looking inside wrappers."""
    if 'pipeline' in dataset_cfg:
        return dataset_cfg['pipeline']
    for key in ('dataset', 'datasets'):
        inner = dataset_cfg.get(key)
        if isinstance(inner, dict):
            return _find_pipeline(inner, config)
        if isinstance(inner, (list, tuple)) and inner:
            return _find_pipeline(inner[0], config)
    raise KeyError(f'{config}: no pipeline in train_dataloader.dataset')


def consume(batch: dict) -> float:
    """A trivial consumer: reduce every input so that it is really read."""
    inputs = batch['inputs']
    return float(sum(float(x.float().mean()) for x in inputs))


def run(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    loader = build_dataloader(args)
    num_batches = len(loader)
    if args.max_batches is not None:
        num_batches = min(num_batches, args.max_batches)
    every = args.every or max(1, num_batches // 10)
    records = [snapshot('before', 0, 0, start)]
    batches = samples = 0
    checksum = 0.0
    for batch in loader:
        checksum += consume(batch)
        batches += 1
        samples += len(batch['inputs'])
        if batches == 1:
            records.append(snapshot('first batch', batches, samples, start))
        elif batches % every == 0 and batches < num_batches:
            records.append(snapshot('', batches, samples, start))
        if batches >= num_batches:
            break
        del batch
    records.append(snapshot('end', batches, samples, start))
    ref, end = records[1] if len(records) > 2 else records[0], records[-1]
    report = dict(
        config=args.config,
        data_root=args.data_root,
        num_workers=args.num_workers,
        batch_size=loader.batch_size,
        dataset_len=len(loader.dataset),
        batches=batches,
        samples=samples,
        seconds=round(time.perf_counter() - start, 1),
        checksum=checksum,
        records=records,
        growth_rss_mb=end['total_rss_mb'] - ref['total_rss_mb'],
        growth_anon_mb=end['total_anon_mb'] - ref['total_anon_mb'],
        growth_pss_anon_mb=end['total_pss_anon_mb'] - ref['total_pss_anon_mb'])
    del loader  # stops the persistent workers
    return report


def print_table(report: dict) -> None:
    workers = report['num_workers']
    head = f'{"batch":>7} {"samples":>7} {"time s":>7} | {"main":>15}'
    head += ''.join(f' | {"worker " + str(i):>15}' for i in range(workers))
    head += f' | {"total":>15} | {"PSS anon":>8}'
    print(f'RSS in MiB as "VmRSS (RssAnon)" ({report["samples"]} samples of '
          f'{report["dataset_len"]}, batch {report["batch_size"]}, '
          f'{workers} workers)')
    print(head)
    print('-' * len(head))

    def cell(status: Optional[dict]) -> str:
        if not status:
            return f'{"-":>15}'
        return f'{status["VmRSS"]:7.1f} ({status["RssAnon"]:5.1f})'

    for rec in report['records']:
        line = f'{rec["batches"]:>7} {rec["samples"]:>7} ' \
               f'{rec["elapsed_s"]:>7.1f} | {cell(rec["parent"])}'
        for i in range(workers):
            line += ' | ' + cell(rec['workers'][i] if i <
                                 len(rec['workers']) else None)
        line += (f' | {rec["total_rss_mb"]:7.1f} '
                 f'({rec["total_anon_mb"]:5.1f})'
                 f' | {rec["total_pss_anon_mb"]:8.1f}')
        print(line + (f'  {rec["label"]}' if rec['label'] else ''))
    print(f'growth from the first batch to the end: RSS '
          f'{report["growth_rss_mb"]:+.1f} MiB, anonymous '
          f'{report["growth_anon_mb"]:+.1f} MiB, anonymous PSS '
          f'{report["growth_pss_anon_mb"]:+.1f} MiB ({report["seconds"]} s)')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_table(report)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        tmp = args.out + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, args.out)
        print(f'written {args.out}')
    if args.max_growth_mb is not None and \
            report['growth_anon_mb'] > args.max_growth_mb:
        print(f'anonymous memory grew by {report["growth_anon_mb"]:.1f} MiB '
              f'> --max-growth-mb {args.max_growth_mb}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
