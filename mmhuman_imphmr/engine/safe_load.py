"""Checkpoint loading that a file cannot widen, and checked loading.

Every path that reads a checkpoint goes through :func:`safe_load_checkpoint`:
``tools/test.py``, ``--resume`` and ``load_from`` (through
:meth:`FaultTolerantRunner.load_checkpoint`), ``init_cfg=dict(type=
'Pretrained')`` (mmengine's local-file loader is replaced by
:func:`install_mmengine_loader`), the demo (``apis.inference``) and the SPIN
converter.

A torch zip checkpoint is read here, not by ``torch.load``: ``data.pkl`` is
unpickled under :data:`CHECKPOINT_POLICY` (:mod:`mmhuman_imphmr.utils.
safe_pickle`), and each storage record is checked against the size the
pickle declares before it is allocated. What a file may contain is fixed at
import time and frozen (found by writing MMEngine checkpoints and listing
their globals):

* tensors (``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter``,
  the legacy ``torch.<Type>Storage`` names), ``collections.OrderedDict``
  (with the ``_metadata`` of ``state_dict()``);
* ``mmengine.logging.history_buffer.HistoryBuffer`` (the message hub's
  ``log_scalars``). Its pickled state names its statistics methods as
  ``getattr(HistoryBuffer, 'mean')``: ``getattr`` returns only the four
  methods captured when this module was imported (``min``, ``max``,
  ``current``, ``mean``), and a state that maps a name to another method is
  refused. ``HistoryBuffer.__setstate__`` (which writes the file's methods
  into the class-level ``_statistics_methods`` table) is never called: the
  instance gets its history arrays and ``max_length`` only;
* numpy arrays, dtypes and scalars (rebuilt as in :mod:`.safe_pickle`).

Loading never changes process state. Every tensor must be finite; errors
name the path and say what is wrong (truncated, not a checkpoint, refused
global, non-finite tensor in key K). Files in torch's legacy (pre-1.6,
non-zip) format are read with ``torch.load(weights_only=True)`` and torch's
own default allow-list only (no numpy, no mmengine classes).
"""
import math
import os.path as osp
import zipfile
import zlib
from collections import OrderedDict
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from torch import nn

from mmhuman_imphmr.utils.safe_pickle import (NUMPY_BUILDS, Global,
                                              RefusedPickleError,
                                              RestrictedUnpickler,
                                              UnpicklePolicy,
                                              UnreadablePickleError,
                                              numpy_globals, set_globals,
                                              short_repr)

# MMEngine registers the default statistics on the first HistoryBuffer();
# doing it here means a load never writes that class-level table.
HistoryBuffer()
HISTORY_BUFFER_STATISTICS = MappingProxyType({
    name: HistoryBuffer.__dict__[name]
    for name in ('min', 'max', 'current', 'mean')
})

_STORAGE_DTYPES = MappingProxyType({
    'FloatStorage': torch.float32,
    'DoubleStorage': torch.float64,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
    'ComplexFloatStorage': torch.complex64,
    'ComplexDoubleStorage': torch.complex128,
})


class CheckpointLoadError(RuntimeError):
    """A checkpoint cannot be loaded: missing, truncated, not a checkpoint,
    refused content or non-finite tensors. The message names the path."""


class _StorageKind:
    """What ``find_class`` returns for ``torch.FloatStorage`` etc.: an inert
    token (the storage classes themselves are never called)."""

    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self) -> str:
        return f'torch.{self.name}'


class _Storage:
    """A storage read from its zip record: a flat tensor of ``numel``."""

    def __init__(self, flat: torch.Tensor):
        self.flat = flat


def _frozen_getattr(u: RestrictedUnpickler, obj: Any, name: Any) -> Any:
    """``getattr`` limited to :data:`HISTORY_BUFFER_STATISTICS`."""
    if obj is HistoryBuffer and isinstance(name, str) and \
            name in HISTORY_BUFFER_STATISTICS:
        return HISTORY_BUFFER_STATISTICS[name]
    raise u.refuse(f'refusing getattr({u._name(obj)}, {short_repr(name)}): '
                   f'only HistoryBuffer statistics '
                   f'{sorted(HISTORY_BUFFER_STATISTICS)} are expected')


def _getattr_token(*args: Any) -> None:
    """Stand-in for ``builtins.getattr`` (only :func:`_frozen_getattr` is
    ever run for it)."""
    raise RuntimeError('not callable')  # pragma: no cover


def _history_buffer_new(u, cls, args, kwargs) -> HistoryBuffer:
    if args or kwargs:
        raise u.refuse('HistoryBuffer created with arguments')
    return object.__new__(HistoryBuffer)


def _history_buffer_build(u: RestrictedUnpickler, inst: HistoryBuffer,
                          state: Any) -> None:
    if not isinstance(state, dict) or not set(state) <= {
            'max_length', '_log_history', '_count_history',
            'statistics_methods'
    }:
        raise u.refuse(
            f'HistoryBuffer state with keys '
            f'{short_repr(sorted(map(str, state)) if isinstance(state, dict) else state)}'  # noqa: E501
        )
    for name, method in dict(state.get('statistics_methods', {})).items():
        if HISTORY_BUFFER_STATISTICS.get(name) is not method:
            raise u.refuse(
                f'HistoryBuffer statistics method {short_repr(name)} is '
                f'mapped to {u._name(method)} (forged; only '
                f'{sorted(HISTORY_BUFFER_STATISTICS)} with their own '
                f'methods are allowed)')
    logs, counts = state.get('_log_history'), state.get('_count_history')
    for key, arr in (('_log_history', logs), ('_count_history', counts)):
        if type(arr) is not np.ndarray or arr.ndim != 1 or \
                arr.dtype.kind not in 'biuf':
            raise u.refuse(f'HistoryBuffer {key} is not a 1-D numeric array')
    max_length = state.get('max_length', 1000000)
    if type(max_length) is not int or max_length <= 0 or \
            len(logs) != len(counts):
        raise u.refuse('HistoryBuffer max_length / history lengths')
    inst.__dict__.update(
        max_length=max_length, _log_history=logs, _count_history=counts)


def _ordered_dict(u: RestrictedUnpickler, items: Any = ()) -> OrderedDict:
    if not isinstance(items, (list, tuple)):
        raise u.refuse(f'OrderedDict({u._name(items)})')
    try:
        return u.mark_fresh(OrderedDict(items))
    except (TypeError, ValueError) as exc:
        raise u.refuse(f'OrderedDict items ({exc})')


def _ordered_dict_build(u: RestrictedUnpickler, inst: OrderedDict,
                        state: Any) -> None:
    # ``state_dict()`` sets ``_metadata`` (module versions) on its dict.
    if state is None:
        return
    if not isinstance(state, dict) or set(state) - {'_metadata'} or \
            not isinstance(state.get('_metadata', {}), dict):
        raise u.refuse(f'OrderedDict state {short_repr(state)} (only '
                       f'_metadata is expected)')
    if '_metadata' in state:
        inst._metadata = state['_metadata']


def _check_ints(u, values: Any, what: str) -> Tuple[int, ...]:
    if (not isinstance(values, (tuple, list, torch.Size)) or len(values) > 32
            or not all(type(v) is int and v >= 0 for v in values)):
        raise u.refuse(f'tensor {what} {short_repr(values)}')
    return tuple(values)


def _rebuild_tensor(u: RestrictedUnpickler,
                    storage: Any,
                    offset: Any,
                    size: Any,
                    stride: Any,
                    requires_grad: Any = False,
                    backward_hooks: Any = None,
                    metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise u.refuse(f'tensor storage is {u._name(storage)}')
    size = _check_ints(u, size, 'size')
    stride = _check_ints(u, stride, 'stride')
    if type(offset) is not int or offset < 0 or len(size) != len(stride) \
            or not isinstance(requires_grad, bool):
        raise u.refuse(f'tensor offset {short_repr(offset)} / size / '
                       f'stride / requires_grad')
    if backward_hooks or metadata:
        raise u.refuse('tensor with backward hooks or metadata')
    numel = storage.flat.numel()
    # yapf: disable
    if math.prod(size) and offset + sum(
            (n - 1) * s for n, s in zip(size, stride)) >= numel:
        raise u.refuse(f'tensor of size {size} stride {stride} offset '
                       f'{offset} reaches past its storage of {numel} '
                       f'elements')
    # yapf: enable
    tensor = storage.flat.as_strided(size, stride, offset)
    if requires_grad and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(u: RestrictedUnpickler,
                       data: Any,
                       requires_grad: Any,
                       backward_hooks: Any = None) -> nn.Parameter:
    if not isinstance(data, torch.Tensor) or backward_hooks or \
            not isinstance(requires_grad, bool):
        raise u.refuse('malformed nn.Parameter')
    return nn.Parameter(data.detach(), requires_grad=requires_grad)


def _checkpoint_globals() -> Dict[Tuple[str, str], Global]:
    out = {**numpy_globals(), **set_globals()}
    out[('collections', 'OrderedDict')] = Global(
        OrderedDict, call=_ordered_dict)
    out[('torch._utils', '_rebuild_tensor_v2')] = Global(
        torch._utils._rebuild_tensor_v2, call=_rebuild_tensor)
    out[('torch._utils', '_rebuild_parameter')] = Global(
        torch._utils._rebuild_parameter, call=_rebuild_parameter)
    for name, dtype in _STORAGE_DTYPES.items():
        out[('torch', name)] = Global(_StorageKind(name, dtype))
    out[('mmengine.logging.history_buffer', 'HistoryBuffer')] = Global(
        HistoryBuffer, new=_history_buffer_new)
    for module in ('builtins', '__builtin__'):
        out[(module, 'getattr')] = Global(_getattr_token, call=_frozen_getattr)
    return out


CHECKPOINT_POLICY = UnpicklePolicy(
    what='checkpoint',
    globals=MappingProxyType(_checkpoint_globals()),
    builds=NUMPY_BUILDS + ((HistoryBuffer, _history_buffer_build),
                           (OrderedDict, _ordered_dict_build)),
    max_array_elements=1 << 30,
    max_total_bytes=1 << 34,
    max_depth=100,
    allow_object_arrays=False)


def _fail(path: str, problem: str) -> CheckpointLoadError:
    return CheckpointLoadError(f'{path}: {problem}')


def _read_record(zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                 out: torch.Tensor) -> None:
    view = out.view(-1).view(torch.uint8).numpy() if out.numel() else None
    if view is None:
        return
    mem, done = memoryview(view), 0
    with zf.open(info) as f:
        while done < len(mem):
            n = f.readinto(mem[done:done + (1 << 24)])
            if not n:
                break
            done += n
    if done != len(mem):
        raise EOFError(f'{done} of {len(mem)} bytes')


def _load_zip_checkpoint(path: str, zf: zipfile.ZipFile) -> Any:
    names = zf.namelist()
    pkls = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
    if len(pkls) != 1:
        raise _fail(
            path, f'not a torch checkpoint: a zip archive without '
            f'exactly one data.pkl (found {len(pkls)}; members '
            f'{short_repr(names[:6])})')
    prefix = pkls[0][:-len('data.pkl')]
    if f'{prefix}byteorder' in names and \
            zf.read(f'{prefix}byteorder').strip() not in (b'little', b''):
        raise _fail(path, 'big-endian checkpoints are not supported')
    storages: Dict[str, _Storage] = {}

    def persistent_load(u: RestrictedUnpickler, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5
                and pid[0] == 'storage' and isinstance(pid[1], _StorageKind)
                and isinstance(pid[2], str) and type(pid[4]) is int
                and pid[4] >= 0):
            raise u.refuse(f'persistent id {short_repr(pid)} is not a '
                           f'torch storage reference')
        _, kind, key, _, numel = pid
        if key in storages:
            return storages[key]
        record = f'{prefix}data/{key}'
        try:
            info = zf.getinfo(record)
        except KeyError:
            raise u.refuse(f'storage record {record!r} is missing '
                           f'(truncated archive)') from None
        itemsize = torch.empty(0, dtype=kind.dtype).element_size()
        need = numel * itemsize
        if info.file_size != need:
            raise u.refuse(
                f'storage {key!r} declares {numel} x {kind.name} '
                f'({need} bytes) but its record holds {info.file_size} bytes '
                f'(truncated or forged)')
        flat = torch.empty(numel, dtype=kind.dtype)
        try:
            _read_record(zf, info, flat)
        except (EOFError, zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise u.refuse(f'storage record {record!r} is corrupt '
                           f'({type(exc).__name__}: {exc})') from None
        storages[key] = _Storage(flat)
        return storages[key]

    info = zf.getinfo(pkls[0])
    with zf.open(info) as f:
        unpickler_box: List[RestrictedUnpickler] = []

        def pid_hook(pid: Any) -> _Storage:
            return persistent_load(unpickler_box[0], pid)

        unpickler = RestrictedUnpickler(f, f'{path}:{pkls[0]}',
                                        CHECKPOINT_POLICY, info.file_size,
                                        pid_hook)
        unpickler_box.append(unpickler)
        return _run_unpickler(unpickler, f'{path}:{pkls[0]}')


def _run_unpickler(unpickler: RestrictedUnpickler, where: str) -> Any:
    # restricted_load with an unpickler that needs the persistent hook.
    from mmhuman_imphmr.utils import safe_pickle
    try:
        obj = unpickler.load()
    except RefusedPickleError:
        raise
    except safe_pickle._READ_ERRORS as exc:
        detail = f'{type(exc).__name__}: {short_repr(str(exc))}'
        raise UnreadablePickleError(
            f'{where}: not a readable checkpoint (truncated or not a pickle: '
            f'{detail})', detail) from None
    safe_pickle.check_structure(obj, where, CHECKPOINT_POLICY.max_depth)
    return obj


def _load_legacy(path: str) -> Any:
    # torch < 1.6 format: torch's weights-only unpickler with its own
    # default allow-list (tensors, containers) and nothing added.
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # every torch / pickle error of this format
        raise _fail(
            path, f'not a readable checkpoint (legacy torch format; '
            f'{type(exc).__name__}: {short_repr(str(exc))})') from None


def nonfinite_tensors(obj: Any,
                      prefix: str = '') -> List[Tuple[str, int, int]]:
    """``(key path, non-finite count, numel)`` of every tensor with NaN/Inf
    (walks dicts, lists and tuples; the structure is acyclic here)."""
    found = []
    todo = [(prefix, obj)]
    while todo:
        key, value = todo.pop()
        if isinstance(value, torch.Tensor):
            if (value.is_floating_point() or value.is_complex()) and \
                    value.numel():
                flat = torch.view_as_real(value) if value.is_complex() \
                    else value
                # One pass, no temporary: NaN and Inf show in min / max.
                low, high = torch.aminmax(flat.detach())
                if not (torch.isfinite(low) and torch.isfinite(high)):
                    bad = int(value.numel() - torch.isfinite(value).sum())
                    found.append((key, bad, value.numel()))
        elif isinstance(value, dict):
            todo.extend(
                (f'{key}.{k}' if key else str(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            todo.extend((f'{key}[{i}]', v) for i, v in enumerate(value))
    return sorted(found)


def _move(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, OrderedDict):
        out = OrderedDict((k, _move(v, device)) for k, v in obj.items())
        if hasattr(obj, '_metadata'):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, dict):
        return {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, device) for v in obj)
    return obj


def safe_load_checkpoint(path: str,
                         map_location: Union[str, torch.device, Callable,
                                             None] = 'cpu',
                         check_finite: bool = True) -> Any:
    """Load a checkpoint under :data:`CHECKPOINT_POLICY` (module doc).

    Args:
        path (str): A torch checkpoint (zip, or torch's legacy format).
        map_location: ``'cpu'`` (default), a device (tensors are moved
            there), or None / a callable (tensors stay on the CPU).
        check_finite (bool): Refuse NaN/Inf in any tensor.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointLoadError: truncated, not a checkpoint, refused content
            (the refused global / state is named), non-finite tensor; the
            message starts with the path.
    """
    path = str(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    size = osp.getsize(path)
    if size == 0:
        raise _fail(path, 'empty file (0 bytes), not a checkpoint')
    with open(path, 'rb') as f:
        head = f.read(4)
    try:
        if head.startswith(b'PK'):
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise _fail(
                    path, f'truncated checkpoint: a zip archive '
                    f'without a readable end record ({exc}); the '
                    f'save was probably interrupted') from None
            with zf:
                obj = _load_zip_checkpoint(path, zf)
        elif head[:1] == b'\x80':
            obj = _load_legacy(path)
        else:
            raise _fail(
                path, f'not a checkpoint (starts with '
                f'{head!r}; expected a torch zip archive)')
    except RefusedPickleError as exc:
        raise CheckpointLoadError(str(exc)) from None
    if check_finite:
        bad = nonfinite_tensors(obj)
        if bad:
            listing = ', '.join(f'"{k}" ({n} of {m})' for k, n, m in bad[:5])
            more = f' and {len(bad) - 5} more' if len(bad) > 5 else ''
            raise _fail(
                path, f'non-finite tensor values (NaN/Inf) in key '
                f'{listing}{more}: the run that saved it diverged; '
                f'use an earlier checkpoint')
    if isinstance(map_location, (str, torch.device)) and \
            str(map_location) != 'cpu':
        obj = _move(obj, torch.device(map_location))
    return obj


def _mmengine_local_loader(filename: str, map_location=None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for local files (``''``)."""
    return safe_load_checkpoint(osp.expanduser(filename), map_location)


def install_mmengine_loader() -> None:
    """Route mmengine's local-file checkpoint loading (``init_cfg=
    Pretrained``, ``mmengine.runner.load_checkpoint``) through
    :func:`safe_load_checkpoint`. Idempotent; done when this module is
    imported (an intended, code-made change, never one made by a file)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not _mmengine_local_loader:
        CheckpointLoader.register_scheme(
            prefixes='', loader=_mmengine_local_loader, force=True)


install_mmengine_loader()


def checkpoint_safe_globals():
    """Kept for callers of the earlier API: a no-op context (loading is
    always restricted now)."""
    import contextlib
    return contextlib.nullcontext()


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model (another architecture)."""


def check_state_dict(model: nn.Module,
                     state_dict: Dict[str, torch.Tensor],
                     source: str = '<checkpoint>',
                     max_keys: int = 10) -> Optional[str]:
    """Describe how ``state_dict`` differs from ``model.state_dict()``.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): Weights to load (``module.`` prefixes removed).
        source (str): Named in the message (e.g. the checkpoint path).
        max_keys (int): Keys listed per kind of difference.

    Returns:
        str | None: None when keys and shapes match exactly, else a message
        naming the missing, unexpected and shape-mismatching keys.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
                    f'{tuple(own[k].shape)}'
                    for k in set(own) & set(state_dict)
                    if hasattr(state_dict[k], 'shape')
                    and tuple(state_dict[k].shape) != tuple(own[k].shape))
    if not (missing or unexpected or shapes):
        return None

    def listing(title: str, keys: List[str]) -> str:
        more = f' ... (+{len(keys) - max_keys} more)' \
            if len(keys) > max_keys else ''
        return f'\n  {title} ({len(keys)}): {keys[:max_keys]}{more}'

    msg = (f'{source} does not match {type(model).__name__} (checkpoint '
           f'from another architecture or config?):')
    if shapes:
        msg += listing('shape mismatch', shapes)
    if missing:
        msg += listing('missing in checkpoint', missing)
    if unexpected:
        msg += listing('unexpected in checkpoint', unexpected)
    return msg


def load_state_dict_checked(model: nn.Module,
                            state_dict: Dict[str, torch.Tensor],
                            source: str = '<checkpoint>',
                            strict: bool = True) -> Optional[str]:
    """Load ``state_dict`` into ``model``, refusing a mismatching one.

    Args:
        model (nn.Module): Target model.
        state_dict (dict): Weights; a leading ``module.`` (DDP) is removed.
        source (str): Named in the message.
        strict (bool): Raise on any difference (True), or load the matching
            keys and return the message (False). Shape mismatches always
            raise: loading them would fail inside torch anyway.

    Returns:
        str | None: The difference message when not strict, else None.

    Raises:
        CheckpointMismatchError: see ``strict``.
    """
    state_dict = {
        k[7:] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }
    msg = check_state_dict(model, state_dict, source)
    if msg is not None and (strict or 'shape mismatch' in msg):
        raise CheckpointMismatchError(msg)
    model.load_state_dict(state_dict, strict=False)
    return msg
