"""Reading and writing HumanData ``.npz`` files without trusting pickles.

mmhuman3d's ``HumanData.dump`` calls ``np.savez_compressed(path, **data)``:
plain arrays are stored as ``.npy`` members, while dicts (``smpl``, ``meta``,
``misc``) and the flags (``__key_strict__``, ``__data_len__``,
``__keypoints_compressed__``) become 0-d object arrays, i.e. pickles.
``HumanData.load`` reads them with ``np.load(allow_pickle=True)`` and
``.item()``. ``np.load(allow_pickle=True)`` would run any pickle; here the
object members are unpickled under :data:`HUMANDATA_PICKLE_POLICY`
(:mod:`mmhuman_imphmr.utils.safe_pickle`), which resolves only numpy's
array/scalar reconstructors (dicts, lists, strings and numbers need no
globals) and rebuilds dtypes from numpy's own description. Numeric members
are read header first: a member whose header promises more data than it holds
is refused before anything is allocated. The same policy reads 3DPW's
Python-2 sequence pickles.
"""
import os
import zipfile
from types import MappingProxyType
from typing import IO, Any, Dict, Iterable, Optional

import numpy as np

from mmhuman_imphmr.utils.safe_pickle import (NUMPY_BUILDS, BrokenFileError,
                                              RefusedPickleError,
                                              RestrictedUnpickler,
                                              UnpicklePolicy, load_npz,
                                              npz_member_names)
from mmhuman_imphmr.utils.safe_pickle import numpy_globals as _numpy_globals
from mmhuman_imphmr.utils.safe_pickle import open_npz, restricted_load

# Limits of one pickled member (a 300k-sample ``smpl`` dict holds ~30M
# floats) and of a numeric member (300k x 190 x 3 keypoints = 171M).
MAX_PICKLED_ELEMENTS = 1 << 28
MAX_MEMBER_ELEMENTS = 1 << 30

HUMANDATA_PICKLE_POLICY = UnpicklePolicy(
    what='HumanData / numpy-only pickle',
    globals=MappingProxyType(_numpy_globals()),
    builds=NUMPY_BUILDS,
    max_array_elements=MAX_PICKLED_ELEMENTS,
    max_total_bytes=1 << 33,
    max_depth=32,
    allow_object_arrays=True)


class NumpyOnlyUnpickler(RestrictedUnpickler):
    """Unpickler resolving numpy arrays/scalars only (latin1 for Python 2),
    under :data:`HUMANDATA_PICKLE_POLICY`.

    Args:
        file: Binary file object.
        path (str): Shown in errors.
    """

    def __init__(self,
                 file: IO[bytes],
                 path: str = '<stream>',
                 size: Optional[int] = None) -> None:
        super().__init__(file, path, HUMANDATA_PICKLE_POLICY, size)
        self.path = path


def load_pickle_numpy_only(path: str) -> Any:
    """Unpickle ``path`` under :data:`HUMANDATA_PICKLE_POLICY` (numpy
    arrays, dicts, lists, strings, numbers; acyclic, bounded depth).

    Raises:
        RefusedPickleError: refused or unreadable; the message names
            ``path``.
    """
    with open(path, 'rb') as f:
        return restricted_load(
            f,
            path,
            HUMANDATA_PICKLE_POLICY,
            size=os.fstat(f.fileno()).st_size)


def load_human_data(path: str,
                    keys: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Read a HumanData ``.npz`` into a dict (all members or ``keys``).

    0-d members come back as Python objects (dict, bool, int, str), like
    mmhuman3d's ``HumanData.load``.

    Raises:
        ValueError (``BrokenFileError``): not an .npz, truncated, a member
            whose header promises more data than it holds; names the file
            and key.
        RefusedPickleError: an object member refused by the policy.
    """
    out = load_npz(path, keys, HUMANDATA_PICKLE_POLICY, MAX_MEMBER_ELEMENTS)
    for key, value in out.items():
        if isinstance(value, np.ndarray) and value.shape == () and \
                value.dtype.kind in 'biufU':
            out[key] = value.item()
    return out


def npz_keys(path: str) -> list:
    """Member names of an ``.npz`` without reading them (named errors)."""
    return npz_member_names(path)


def save_human_data(path: str,
                    data: Dict[str, Any],
                    keypoints_compressed: bool = False) -> None:
    """Write ``data`` the way mmhuman3d's ``HumanData.dump`` does.

    Dicts are stored as 0-d object arrays; the flags ``__key_strict__``,
    ``__data_len__`` and ``__keypoints_compressed__`` are added so that
    mmhuman3d's ``HumanData.fromfile`` reads the file too.
    """
    if not str(path).endswith('.npz'):
        raise ValueError(f'{path}: a HumanData file must end with .npz')
    num = len(data['image_path'])
    out = {
        '__key_strict__': False,
        '__data_len__': num,
        '__keypoints_compressed__': keypoints_compressed,
    }
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = np.array(value, dtype=object)  # 0-d object array
        else:
            out[key] = value
    np.savez_compressed(path, **out)


def _open_member(zf: zipfile.ZipFile, path: str, key: str):
    """``(file, shape, fortran, dtype, data_bytes_left)`` of a member."""
    name = f'{key}.npy'
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BrokenFileError(
            f'{path}: key "{key}": missing (found keys '
            f'{sorted(n[:-4] for n in zf.namelist())})') from None
    f = zf.open(info)
    try:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    except (ValueError, EOFError, zipfile.BadZipFile, OSError) as exc:
        f.close()
        raise BrokenFileError(
            f'{path}: key "{key}": not a readable .npy '
            f'member ({type(exc).__name__}: {exc})') from None
    return f, shape, fortran, dtype, info.file_size - f.tell()


def iter_array_chunks(path: str, key: str, chunk_rows: int = 8192):
    """Yield a numeric member of an ``.npz`` in row chunks.

    Decompresses the member once, front to back, holding at most
    ``chunk_rows`` rows in memory (a 300k x 190 x 3 float64 keypoint array
    would otherwise need 1.4 GB at once). The header is checked against the
    member's size first: a header that promises more rows than the member
    holds is refused before reading.

    Yields:
        ndarray: ``[<=chunk_rows, ...]`` consecutive rows.
    """
    with open_npz(path) as zf:
        f, shape, fortran, dtype, left = _open_member(zf, path, key)
        with f:
            if dtype.hasobject or fortran or not shape or \
                    dtype.kind not in 'biufc':
                raise BrokenFileError(
                    f'{path}: key "{key}" is not a C-ordered numeric array '
                    f'(dtype {dtype}, shape {shape})')
            row_shape = shape[1:]
            row_count = int(np.prod(row_shape)) if row_shape else 1
            need = shape[0] * row_count * dtype.itemsize
            if need > left:
                raise BrokenFileError(
                    f'{path}: key "{key}": truncated: the header promises '
                    f'shape {shape} {dtype} ({need} bytes), the member holds '
                    f'{left} bytes of data')
            done = 0
            while done < shape[0]:
                rows = min(chunk_rows, shape[0] - done)
                try:
                    buf = f.read(rows * row_count * dtype.itemsize)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise BrokenFileError(
                        f'{path}: key "{key}": corrupt data at row {done} '
                        f'({type(exc).__name__}: {exc})') from None
                if len(buf) != rows * row_count * dtype.itemsize:
                    raise BrokenFileError(
                        f'{path}: key "{key}": truncated at row {done} of '
                        f'{shape[0]}')
                yield np.frombuffer(
                    buf, dtype=dtype).reshape((rows, ) + row_shape)
                done += rows


def member_shape(path: str, key: str):
    """``(shape, dtype)`` of an ``.npz`` member, reading only its header."""
    with open_npz(path) as zf:
        f, shape, _, dtype, _ = _open_member(zf, path, key)
        f.close()
        return shape, dtype


__all__ = [
    'HUMANDATA_PICKLE_POLICY', 'NumpyOnlyUnpickler', 'load_pickle_numpy_only',
    'load_human_data', 'npz_keys', 'save_human_data', 'iter_array_chunks',
    'member_shape', 'BrokenFileError', 'RefusedPickleError'
]
