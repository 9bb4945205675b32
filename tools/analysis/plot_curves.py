"""Loss and metric curves from MMEngine's JSON logs, to a PNG.

MMEngine writes ``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (also
``scalars.json``): one JSON object per line. Training lines hold ``loss*``
keys, ``lr``, ``epoch``, ``iter`` and ``step`` (the global iteration);
validation lines hold the metric keys (e.g. ``pa_mpjpe``) and ``step`` (the
epoch, for epoch-based training). Each key gets its own subplot; each log
file its own line (the file's parent run folder is the legend)::

    python tools/analysis/plot_curves.py work_dirs/x/*/vis_data/scalars.json \
        --keys loss pa_mpjpe --out curves.png
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

Series = Dict[str, Tuple[List[float], List[float]]]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('logs', nargs='+', help='vis_data JSON log files')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss'],
        help='keys to plot, e.g. loss loss_reg_pose pa_mpjpe')
    parser.add_argument('--out', default='curves.png')
    parser.add_argument('--title', default=None)
    parser.add_argument(
        '--legend',
        nargs='+',
        default=None,
        help='one name per log (default: run folder)')
    return parser.parse_args(argv)


def read_log(path: str, keys: Sequence[str]) -> Series:
    """``{key: (x, y)}``: x is ``step`` (else ``iter``, else ``epoch``).

    Training keys are plotted against the global iteration, metrics against
    the validation step; lines that are not JSON objects raise an error
    naming the file and line.
    """
    series: Series = {k: ([], []) for k in keys}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f'{path}:{number}: not a JSON line '
                                 f'({exc})') from None
            if not isinstance(record, dict):
                raise ValueError(f'{path}:{number}: expected a JSON object')
            x = next(
                (record[k] for k in ('step', 'iter', 'epoch') if k in record),
                number)
            for key in keys:
                if key in record:
                    series[key][0].append(float(x))
                    series[key][1].append(float(record[key]))
    return series


def _default_name(path: str) -> str:
    parent = osp.basename(osp.dirname(osp.abspath(path)))
    if parent == 'vis_data':  # <work_dir>/<timestamp>/vis_data/x.json
        return osp.basename(osp.dirname(osp.dirname(osp.abspath(path))))
    return osp.splitext(osp.basename(path))[0]


def plot_curves(logs: Sequence[str],
                keys: Sequence[str],
                out: str,
                legend: Optional[Sequence[str]] = None,
                title: Optional[str] = None) -> str:
    """Plot ``keys`` of every log into ``out`` (PNG); return ``out``."""
    if legend is not None and len(legend) != len(logs):
        raise ValueError(f'--legend has {len(legend)} names for '
                         f'{len(logs)} logs')
    names = legend or [_default_name(p) for p in logs]
    data = [read_log(p, keys) for p in logs]
    found = [k for k in keys if any(d[k][0] for d in data)]
    if not found:
        raise KeyError(f'none of the keys {list(keys)} appears in '
                       f'{list(logs)}')
    fig, axes = plt.subplots(
        len(found), 1, figsize=(7, 2.8 * len(found)), squeeze=False)
    for ax, key in zip(axes[:, 0], found):
        for name, series in zip(names, data):
            x, y = series[key]
            if x:
                ax.plot(
                    x,
                    y,
                    marker='o' if len(x) < 30 else None,
                    markersize=3,
                    label=name)
        ax.set_ylabel(key)
        ax.set_xlabel('iteration' if key.startswith('loss') or key == 'lr' else
                      'step (epoch / iteration)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, '.tmp_' + osp.basename(out))
    fig.savefig(tmp, dpi=100, format='png')
    plt.close(fig)
    os.replace(tmp, out)
    return out


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    out = plot_curves(args.logs, args.keys, args.out, args.legend, args.title)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
