"""Reading and writing HumanData ``.npz`` files without trusting pickles.

mmhuman3d's ``HumanData.dump`` calls ``np.savez_compressed(path, **data)``:
plain arrays are stored as ``.npy`` members, while dicts (``smpl``, ``meta``,
``misc``) and the flags (``__key_strict__``, ``__data_len__``,
``__keypoints_compressed__``) become 0-d object arrays, i.e. pickles.
``HumanData.load`` reads them with ``np.load(allow_pickle=True)`` and
``.item()``. ``np.load(allow_pickle=True)`` would run any pickle; here the
object members are unpickled with :class:`NumpyOnlyUnpickler`, which resolves
only numpy's array/scalar reconstructors (dicts, lists, strings and numbers
need no globals). The same unpickler reads 3DPW's Python-2 sequence pickles.
"""
import pickle
import zipfile
from typing import Any, Dict, IO, Iterable, Optional

import numpy as np


def _numpy_attr(module_names: Iterable[str], name: str) -> Any:
    import importlib
    for module in module_names:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f'numpy has no {name}')


_MULTIARRAY = ('numpy._core.multiarray', 'numpy.core.multiarray')
_NUMERIC = ('numpy._core.numeric', 'numpy.core.numeric')
_ALLOWED = {
    **{(m, '_reconstruct'): (_MULTIARRAY, '_reconstruct')
       for m in _MULTIARRAY},
    **{(m, 'scalar'): (_MULTIARRAY, 'scalar') for m in _MULTIARRAY},
    **{(m, '_frombuffer'): (_NUMERIC, '_frombuffer') for m in _NUMERIC},
    ('numpy', 'ndarray'): (('numpy', ), 'ndarray'),
    ('numpy', 'dtype'): (('numpy', ), 'dtype'),
}


def _latin1_encode(text: str, encoding: str = 'latin1') -> bytes:
    if encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError(f'unexpected encoding {encoding!r}')
    return text.encode('latin1')


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler resolving numpy arrays/scalars only (latin1 for Python 2).

    Args:
        file: Binary file object.
        path (str): Shown in errors.
    """

    def __init__(self, file: IO[bytes], path: str = '<stream>') -> None:
        super().__init__(file, encoding='latin1')
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ('_codecs', 'encode'):
            # Python 3 writes bytes at protocol < 3 as encode(text, 'latin1').
            return _latin1_encode
        if (module, name) in _ALLOWED:
            modules, attr = _ALLOWED[(module, name)]
            return _numpy_attr(modules, attr)
        raise pickle.UnpicklingError(
            f'{self.path}: refusing to load "{module}.{name}": only numpy '
            f'arrays, dicts, lists, strings and numbers are expected. The '
            f'file may be corrupt or malicious.')


def load_pickle_numpy_only(path: str) -> Any:
    """Unpickle ``path`` with :class:`NumpyOnlyUnpickler`."""
    with open(path, 'rb') as f:
        return NumpyOnlyUnpickler(f, path).load()


def _read_member(zf: zipfile.ZipFile, member: str, path: str) -> Any:
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
        if dtype.hasobject:
            value = NumpyOnlyUnpickler(f, f'{path}:{member}').load()
            return value.item() if getattr(value, 'shape', None) == () \
                else value
        count = int(np.prod(shape)) if shape else 1
        data = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype,
                             count=count)
        order = 'F' if fortran else 'C'
        arr = data.reshape(shape, order=order).copy()
        return arr.item() if arr.shape == () and arr.dtype.kind in 'biufU' \
            else arr


def load_human_data(path: str, keys: Optional[Iterable[str]] = None
                    ) -> Dict[str, Any]:
    """Read a HumanData ``.npz`` into a dict (all members or ``keys``).

    0-d members come back as Python objects (dict, bool, int, str), like
    mmhuman3d's ``HumanData.load``.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f'{path}: not a readable .npz file ({exc})') from exc
    with zf:
        members = {n[:-4]: n for n in zf.namelist() if n.endswith('.npy')}
        wanted = members if keys is None else \
            {k: members[k] for k in keys if k in members}
        return {k: _read_member(zf, m, path) for k, m in wanted.items()}


def npz_keys(path: str) -> list:
    """Member names of an ``.npz`` without reading them."""
    with zipfile.ZipFile(path) as zf:
        return [n[:-4] for n in zf.namelist() if n.endswith('.npy')]


def save_human_data(path: str, data: Dict[str, Any],
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


def iter_array_chunks(path: str, key: str, chunk_rows: int = 8192):
    """Yield a numeric member of an ``.npz`` in row chunks.

    Decompresses the member once, front to back, holding at most
    ``chunk_rows`` rows in memory (a 300k x 190 x 3 float64 keypoint array
    would otherwise need 1.4 GB at once).

    Yields:
        ndarray: ``[<=chunk_rows, ...]`` consecutive rows.
    """
    with zipfile.ZipFile(path) as zf, zf.open(f'{key}.npy') as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
        if dtype.hasobject or fortran or not shape:
            raise ValueError(f'{path}: key "{key}" is not a C-ordered numeric '
                             f'array (dtype {dtype}, shape {shape})')
        row_shape = shape[1:]
        row_count = int(np.prod(row_shape)) if row_shape else 1
        done = 0
        while done < shape[0]:
            rows = min(chunk_rows, shape[0] - done)
            buf = f.read(rows * row_count * dtype.itemsize)
            yield np.frombuffer(buf, dtype=dtype).reshape((rows, ) +
                                                           row_shape)
            done += rows


def member_shape(path: str, key: str):
    """``(shape, dtype)`` of an ``.npz`` member, reading only its header."""
    with zipfile.ZipFile(path) as zf, zf.open(f'{key}.npy') as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = np.lib.format._read_array_header(f, version)
        return shape, dtype
