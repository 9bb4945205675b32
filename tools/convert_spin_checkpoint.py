"""Convert SPIN's released ``model_checkpoint.pt`` into an mmengine checkpoint.

ImpHMR initialises its regressor (and encoder) from SPIN (paper sec. 6.1).
SPIN's file holds ``{'model': HMR state dict, 'optimizer': ..., ...}``; the
HMR state dict has the ResNet-50 keys (``conv1.*``, ``bn1.*``,
``layer1..4.*``) and the regressor keys (``fc1``, ``fc2``, ``decpose``,
``decshape``, ``deccam``, ``init_pose``, ``init_shape``, ``init_cam``) at top
level, possibly behind a ``module.`` prefix (DataParallel). Our ``ResNet``
and ``SMPLRegressionHead`` use the same names and shapes (fc1 takes
2048 + 157 inputs in both), so conversion is a pure key mapping::

    <resnet key>    -> backbone.<resnet key>
    <regressor key> -> head.<regressor key>

Usage::

    python tools/convert_spin_checkpoint.py data/spin/model_checkpoint.pt \\
        data/pretrained/spin_imphmr.pth

then in a config ``load_from = 'data/pretrained/spin_imphmr.pth'`` (or an
``init_cfg=dict(type='Pretrained', ...)``). Keys the model does not have are
dropped and listed; the file is refused, naming the missing keys, when it is
not SPIN's layout.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from mmhuman_imphmr.engine.safe_load import (CheckpointLoadError,
                                             safe_load_checkpoint)
from mmhuman_imphmr.models.backbones import ResNet
from mmhuman_imphmr.models.heads import SMPLRegressionHead

# Counters BatchNorm added in PyTorch 0.4.1: older checkpoints lack them and
# they do not change the output, so their absence is reported, not refused.
OPTIONAL_SUFFIXES = ('num_batches_tracked', )


class SpinCheckpointError(ValueError):
    """The file is not a SPIN HMR checkpoint (or not the expected depth)."""


def expected_shapes(depth: int = 50) -> Dict[str, Dict[str, torch.Size]]:
    """Keys and shapes of our backbone and head, as SPIN names them.

    Built on the ``meta`` device: no memory, no initialisation cost.

    Returns:
        dict: ``{'backbone': {key: shape}, 'head': {key: shape}}``.
    """
    with torch.device('meta'):
        backbone = ResNet(depth=depth)
        head = SMPLRegressionHead(in_channels=backbone.out_channels)
    return {
        'backbone': {
            k: v.shape
            for k, v in backbone.state_dict().items()
        },
        'head': {
            k: v.shape
            for k, v in head.state_dict().items()
        },
    }


def load_spin_state_dict(path: str
                         ) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Read SPIN's checkpoint safely and return its model state dict.

    Args:
        path (str): ``model_checkpoint.pt``.

    Returns:
        tuple: ``(state_dict without 'module.', training info)``; the info
        holds SPIN's ``epoch`` / ``total_step_count`` when present.
    """
    if not osp.isfile(path):
        raise SpinCheckpointError(f'{path}: no such file')
    try:
        # The project's checkpoint reader (engine.safe_load): restricted
        # unpickling, sizes checked before allocation, finite tensors.
        obj = safe_load_checkpoint(path, map_location='cpu')
    except CheckpointLoadError as exc:
        raise SpinCheckpointError(str(exc)) from None
    if not isinstance(obj, Mapping):
        raise SpinCheckpointError(f'{path}: expected a dict with key "model", '
                                  f'found {type(obj).__name__}')
    info = {
        k: obj[k]
        for k in ('epoch', 'total_step_count')
        if k in obj and isinstance(obj[k], (int, float))
    }
    state = obj.get('model', obj)
    if not isinstance(state, Mapping):
        raise SpinCheckpointError(f'{path}: "model" is a '
                                  f'{type(state).__name__}, not a state dict')
    out = OrderedDict()
    for key, value in state.items():
        if not torch.is_tensor(value):
            continue
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out, info


def convert_spin_state_dict(
    state: Mapping[str, torch.Tensor],
    depth: int = 50,
    backbone_prefix: str = 'backbone.',
    head_prefix: str = 'head.',
    source: str = '<state dict>'
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, List[str]]]:
    """Map SPIN's HMR keys onto ``backbone.*`` / ``head.*``.

    Args:
        state (Mapping[str, Tensor]): SPIN's model state dict (no
            ``module.``).
        depth (int): ResNet depth of the source (SPIN: 50).
        backbone_prefix (str): Prefix of our backbone in the estimator.
        head_prefix (str): Prefix of our regression head.
        source (str): Name used in error messages.

    Returns:
        tuple: The converted state dict and a report ``{'dropped': keys of
        the source we have no place for, 'unmatched': optional keys of ours
        the source lacks}``.
    """
    shapes = expected_shapes(depth)
    required, optional = [], []
    for part in ('backbone', 'head'):
        for key in shapes[part]:
            (optional
             if key.endswith(OPTIONAL_SUFFIXES) else required).append(key)
    missing = [k for k in required if k not in state]
    if missing:
        shown = ', '.join(missing[:12])
        more = f' (and {len(missing) - 12} more)' if len(missing) > 12 else ''
        raise SpinCheckpointError(
            f'{source}: not a SPIN HMR (ResNet-{depth}) checkpoint; '
            f'{len(missing)} of {len(required)} expected keys are missing: '
            f'{shown}{more}. Found keys such as '
            f'{list(state)[:5]}')
    out = OrderedDict()
    for part, prefix in (('backbone', backbone_prefix), ('head', head_prefix)):
        for key, shape in shapes[part].items():
            if key not in state:
                continue
            value = state[key]
            if tuple(value.shape) != tuple(shape):
                raise SpinCheckpointError(
                    f'{source}: key "{key}" has shape {tuple(value.shape)}, '
                    f'expected {tuple(shape)} (ResNet-{depth} + SPIN '
                    f'regressor)')
            out[prefix + key] = value
    known = set(shapes['backbone']) | set(shapes['head'])
    report = dict(
        dropped=sorted(k for k in state if k not in known),
        unmatched=sorted(k for k in optional if k not in state))
    return out, report


def save_atomic(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.tmp_', suffix=osp.basename(path))
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def convert_spin_checkpoint(src: str,
                            dst: str,
                            depth: int = 50,
                            backbone_prefix: str = 'backbone.',
                            head_prefix: str = 'head.') -> Dict[str, Any]:
    """Read ``src`` (SPIN), write ``dst`` (mmengine), return the report."""
    state, info = load_spin_state_dict(src)
    converted, report = convert_spin_state_dict(
        state, depth, backbone_prefix, head_prefix, source=src)
    meta = dict(
        source=osp.abspath(src),
        converter='convert_spin_checkpoint',
        depth=depth,
        dropped_keys=report['dropped'],
        unmatched_keys=report['unmatched'],
        spin=info)
    save_atomic(dict(state_dict=converted, meta=meta), dst)
    return dict(report, num_keys=len(converted))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help="SPIN's model_checkpoint.pt")
    parser.add_argument('dst', help='output mmengine checkpoint (.pth)')
    parser.add_argument(
        '--depth',
        type=int,
        default=50,
        help='ResNet depth of the source (SPIN: 50)')
    parser.add_argument('--backbone-prefix', default='backbone.')
    parser.add_argument('--head-prefix', default='head.')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        report = convert_spin_checkpoint(args.src, args.dst, args.depth,
                                         args.backbone_prefix,
                                         args.head_prefix)
    except SpinCheckpointError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}: {report["num_keys"]} tensors')
    print(f'dropped (not in our model): {report["dropped"] or "none"}')
    print(f'unmatched (ours, absent in source): '
          f'{report["unmatched"] or "none"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
