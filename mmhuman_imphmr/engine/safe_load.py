"""Safe (weights-only) loading of MMEngine checkpoints and checked loading.

torch >= 2.6 loads with ``weights_only=True``: only tensors, containers and
allow-listed classes may be unpickled, so a checkpoint cannot run code. An
MMEngine 0.10 checkpoint written by our runner holds, besides tensors
(found by writing one and listing
``torch.serialization.get_unsafe_globals_in_checkpoint``):

* ``mmengine.logging.history_buffer.HistoryBuffer`` (the message hub's
  ``log_scalars``), whose pickled state carries its statistics methods as
  ``getattr(HistoryBuffer, 'mean')`` i.e. the global ``builtins.getattr``;
* numpy arrays and scalars (``numpy.core.multiarray._reconstruct`` /
  ``scalar``, ``numpy.ndarray``, ``numpy.dtype`` and the dtype classes such
  as ``numpy.dtypes.Float64DType``) in the message hub and ``meta``.

Exactly these are allowed, inside a :func:`checkpoint_safe_globals` context
(never process-wide, never ``weights_only=False``). ``builtins.getattr`` is
mapped to :func:`_history_buffer_getattr`, which only returns the statistics
methods of ``HistoryBuffer``: ``getattr(os, 'system')`` in a malicious file is
refused. Anything else (a class with a malicious ``__reduce__``) makes
:func:`torch.load` raise ``UnpicklingError``.
"""
import contextlib
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from torch import nn


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'} | set(
        HistoryBuffer._statistics_methods)
    if obj is not HistoryBuffer or name not in allowed:
        raise RuntimeError(
            f'refusing getattr({obj!r}, {name!r}) while loading a '
            f'checkpoint: only HistoryBuffer statistics methods '
            f'{sorted(allowed)} are expected')
    return getattr(obj, name)


def _numpy_globals() -> List[Union[type, tuple]]:
    """numpy reconstructors under the names numpy 1.x and 2.x pickle them."""
    try:
        from numpy._core import multiarray  # numpy >= 2 (1.26 has an alias)
    except ImportError:  # pragma: no cover - numpy < 1.26
        from numpy.core import multiarray
    out: List[Union[type, tuple]] = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        out.append((multiarray._reconstruct, f'{module}._reconstruct'))
        out.append((multiarray.scalar, f'{module}.scalar'))
    # numpy >= 1.25 builds dtypes as instances of per-type classes.
    for code in '?bBhHiIlLqQefdgFDGUS':
        out.append(type(np.dtype(code)))
    return out


def mmengine_checkpoint_globals() -> List[Union[type, tuple]]:
    """The classes/functions an MMEngine checkpoint legitimately holds.

    Returns:
        list: Entries for ``torch.serialization.safe_globals`` (classes, or
        ``(object, 'module.name')`` pairs).
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
            *_numpy_globals()]


@contextlib.contextmanager
def checkpoint_safe_globals() -> Iterator[None]:
    """Context in which weights-only ``torch.load`` accepts MMEngine
    checkpoints (see the module docstring); no-op on torch < 2.5."""
    ctx = getattr(torch.serialization, 'safe_globals', None)
    if ctx is None:  # pragma: no cover - torch < 2.5 has no allow-list
        yield
        return
    with ctx(mmengine_checkpoint_globals()):
        yield


def safe_load_checkpoint(path: str,
                         map_location: Union[str, torch.device] = 'cpu'
                         ) -> Any:
    """``torch.load(path, weights_only=True)`` allowing MMEngine's classes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RuntimeError: the file is not a checkpoint or holds a global that is
            not allow-listed (``pickle.UnpicklingError`` is chained).
    """
    import os.path as osp
    import pickle
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        with checkpoint_safe_globals():
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RuntimeError(
            f'{path}: refused by safe (weights-only) loading: {exc}. '
            f'Only tensors and the classes of an MMEngine checkpoint are '
            f'allowed; the file may be corrupt or malicious.') from exc
    except (EOFError, RuntimeError, ValueError) as exc:
        raise RuntimeError(f'{path}: not a readable checkpoint '
                           f'({type(exc).__name__}: {exc})') from exc


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model (another architecture)."""


def check_state_dict(model: nn.Module, state_dict: Dict[str, torch.Tensor],
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
    shapes = sorted(
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in set(own) & set(state_dict)
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
    state_dict = {k[7:] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    msg = check_state_dict(model, state_dict, source)
    if msg is not None and (strict or 'shape mismatch' in msg):
        raise CheckpointMismatchError(msg)
    model.load_state_dict(state_dict, strict=False)
    return msg
