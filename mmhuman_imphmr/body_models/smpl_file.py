"""Reading the SMPL model files safely, without chumpy.

The official SMPL ``.pkl`` files were written by Python 2 with ``chumpy``
arrays (``chumpy.ch.Ch``), numpy arrays and a ``scipy.sparse.csc_matrix``.
chumpy no longer installs on current Python, and a plain ``pickle.load`` runs
whatever a file names. :class:`SMPLUnpickler` allow-lists exactly the globals
such a file needs and turns every chumpy object into an inert
:class:`ChumpyObject` that only remembers its pickled state; a ``Ch`` keeps its
value under ``x`` (chumpy ``Ch.__getstate__`` returns its ``__dict__``).

The expected folder tree is :data:`BODY_MODEL_TREE`; every missing or malformed
file raises a :class:`BodyModelFileError` that prints it.
"""
import os.path as osp
import pickle
from typing import Any, Dict, Optional, Union

import numpy as np
import scipy.sparse

Array = Union[np.ndarray, scipy.sparse.spmatrix]

GENDERS = ('neutral', 'male', 'female')
NUM_SMPL_POSE_BASIS = 207  # 23 joints x 9 entries of (R - I)
NUM_MEAN_POSE = 144  # 24 joints x SPIN's 6D rotation

BODY_MODEL_TREE = """\
{root}/
|-- smpl/
|   |-- SMPL_NEUTRAL.pkl        (or .npz)
|   |-- SMPL_MALE.pkl           (or .npz)
|   `-- SMPL_FEMALE.pkl         (or .npz)
|-- J_regressor_extra.npy       (9 x 6890)
|-- J_regressor_h36m.npy        (17 x 6890)
`-- smpl_mean_params.npz        (pose 144, shape 10, cam 3)
Real files (licensed, never shipped): register at https://smpl.is.tue.mpg.de
("SMPL for Python", v1.0.0) and rename
  basicmodel_m_lbs_10_207_0_v1.0.0.pkl -> smpl/SMPL_MALE.pkl
  basicModel_f_lbs_10_207_0_v1.0.0.pkl -> smpl/SMPL_FEMALE.pkl
  basicModel_neutral_lbs_10_207_0_v1.0.0.pkl (from SMPLify,
      https://smplify.is.tue.mpg.de) -> smpl/SMPL_NEUTRAL.pkl
J_regressor_extra.npy, J_regressor_h36m.npy and smpl_mean_params.npz are in
SPIN's data (https://github.com/nkolot/SPIN, scripts/fetch_data.sh).
For a synthetic stand-in with the same format (tests, demos; not a human
body): python tools/generate_body_model.py"""


class BodyModelFileError(Exception):
    """A body-model file is missing or malformed; the message shows the tree."""


class MissingBodyModelFileError(BodyModelFileError, FileNotFoundError):
    """A body-model file does not exist."""


class InvalidBodyModelFileError(BodyModelFileError, ValueError):
    """A body-model file exists but its content is not what SMPL needs."""


def _tree(root: Optional[str]) -> str:
    return BODY_MODEL_TREE.format(root=root or 'data/body_models')


def _missing(path: str, what: str, root: Optional[str] = None):
    return MissingBodyModelFileError(
        f'{what} not found: {path}\nExpected body-model folder:\n'
        f'{_tree(root)}')


def _invalid(path: str, problem: str) -> InvalidBodyModelFileError:
    return InvalidBodyModelFileError(
        f'{path}: {problem}\nExpected body-model folder:\n{_tree(None)}')


# ---------------------------------------------------------------------------
# Restricted unpickling


class ChumpyObject:
    """Inert stand-in for a pickled chumpy object; never runs chumpy code.

    ``chumpy_name`` is the pickled class (``'chumpy.ch.Ch'``, ...), set on the
    per-name subclasses :class:`SMPLUnpickler` creates.
    """
    chumpy_name = 'chumpy.ch.Ch'

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args, obj.state = args, {}
        return obj

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {'state': state}

    def __repr__(self) -> str:
        return f'<{self.chumpy_name} stand-in, keys {sorted(self.state)}>'


# Derived chumpy ops that can be evaluated from their pickled state (term
# names from chumpy's ch.py / ch_ops.py / reordering.py).
def _select(s):
    out = np.asarray(s['a']).ravel()[np.asarray(s['idxs'])]
    shape = s.get('preferred_shape')
    return out.reshape(shape) if shape is not None else out


_CHUMPY_OPS = {
    'Reshape': lambda s: np.reshape(s['a'], s['newshape']),
    'transpose': lambda s: np.transpose(s['a'], s.get('axes')),
    'Select': _select,
    'add': lambda s: np.add(s['a'], s['b']),
    'subtract': lambda s: np.subtract(s['a'], s['b']),
    'multiply': lambda s: np.multiply(s['a'], s['b']),
    'negative': lambda s: np.negative(s['a']),
}
_CHUMPY_MODULES = ('chumpy', 'chumpy.ch', 'chumpy.ch_ops', 'chumpy.reordering',
                   'chumpy.linalg', 'chumpy.logic', 'chumpy.utils')


def chumpy_to_array(obj: Any, where: str = '') -> Any:
    """Evaluate a chumpy stand-in (recursively) to a float64 ndarray.

    Non-chumpy values are returned unchanged.

    Raises:
        ValueError: for a derived chumpy op this loader cannot evaluate.
    """
    if not isinstance(obj, ChumpyObject):
        return obj
    cls = obj.chumpy_name.rsplit('.', 1)[-1]
    state = {k: chumpy_to_array(v, where) for k, v in obj.state.items()}
    if cls == 'Ch':
        if 'x' not in state:
            raise ValueError(f'{where}chumpy object {obj.chumpy_name} has no '
                             f'value "x" in its pickled state')
        return np.asarray(state['x'], dtype=np.float64)
    if cls in _CHUMPY_OPS:
        return np.asarray(_CHUMPY_OPS[cls](state), dtype=np.float64)
    raise ValueError(
        f'{where}holds a derived chumpy object {obj.chumpy_name} that cannot '
        f'be evaluated without chumpy (supported: Ch, '
        f'{", ".join(sorted(_CHUMPY_OPS))}). Re-save the file from an '
        f'environment with chumpy with plain numpy arrays (.npz).')


def _numpy_core(name: str):
    # numpy >= 1.26 has ``numpy._core``; older ones only ``numpy.core``.
    try:
        import numpy._core.multiarray as multiarray
    except ImportError:  # pragma: no cover - numpy < 1.26
        import numpy.core.multiarray as multiarray
    return getattr(multiarray, name)


def _frombuffer(*args):
    # numpy's protocol-5 array reconstructor; numpy 2 moved it to _core.
    try:
        from numpy._core.numeric import _frombuffer as impl
    except ImportError:  # numpy 1.x
        from numpy.core.numeric import _frombuffer as impl
    return impl(*args)


_NUMPY_GLOBALS = {
    '_reconstruct': lambda: _numpy_core('_reconstruct'),
    'scalar': lambda: _numpy_core('scalar'),
}
_SAFE_GLOBALS = {}
for _mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    for _name, _get in _NUMPY_GLOBALS.items():
        _SAFE_GLOBALS[(_mod, _name)] = _get
for _mod in ('numpy.core.numeric', 'numpy._core.numeric'):
    _SAFE_GLOBALS[(_mod, '_frombuffer')] = lambda: _frombuffer
_SAFE_GLOBALS[('numpy', 'ndarray')] = lambda: np.ndarray
_SAFE_GLOBALS[('numpy', 'dtype')] = lambda: np.dtype
for _fmt in ('csc', 'csr'):
    for _mod in (f'scipy.sparse.{_fmt}', f'scipy.sparse._{_fmt}',
                 'scipy.sparse'):
        _SAFE_GLOBALS[(_mod, f'{_fmt}_matrix')] = (
            lambda f=_fmt: getattr(scipy.sparse, f'{f}_matrix'))
# chumpy's Ch state holds ``_dirty_vars = set()``; Python 2 spells it
# ``__builtin__.set``.
_SAFE_GLOBALS[('__builtin__', 'set')] = lambda: set
_SAFE_GLOBALS[('builtins', 'set')] = lambda: set
# Python 3 writes ``bytes`` (numpy's raw buffers) at protocol < 3 as
# ``_codecs.encode(text, 'latin1')``: files re-saved by Python 3 need it.
_SAFE_GLOBALS[('_codecs', 'encode')] = lambda: _latin1_encode


def _latin1_encode(text: str, encoding: str = 'latin1') -> bytes:
    if encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError(
            f'unexpected _codecs.encode encoding {encoding!r}')
    return text.encode('latin1')


class SMPLUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals an SMPL model file needs.

    Args:
        file: Binary file object.
        path (str): The file's path, for error messages.
    """
    _chumpy_classes: Dict[str, type] = {}

    def __init__(self, file, path: str = '<stream>'):
        super().__init__(file, encoding='latin1')
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[key]()
        if module in _CHUMPY_MODULES and name.isidentifier():
            full = f'{module}.{name}'
            if full not in self._chumpy_classes:
                self._chumpy_classes[full] = type(
                    f'Chumpy_{name}', (ChumpyObject,), {'chumpy_name': full})
            return self._chumpy_classes[full]
        raise pickle.UnpicklingError(
            f'{self.path}: refusing to load global "{module}.{name}": an SMPL '
            f'model file only contains numpy arrays, scipy sparse matrices '
            f'and chumpy arrays. The file may be corrupt or malicious.')


def safe_load_pickle(path: str) -> Any:
    """Unpickle ``path`` with :class:`SMPLUnpickler` (latin1, allow-list)."""
    with open(path, 'rb') as f:
        return SMPLUnpickler(f, path).load()


# ---------------------------------------------------------------------------
# SMPL model files

SMPL_MODEL_KEYS = ('v_template', 'f', 'shapedirs', 'posedirs', 'J_regressor',
                   'weights', 'kintree_table')


def _check_shape(path: str, key: str, value: Array, expected: tuple,
                 text: str) -> None:
    # ``expected``: one entry per axis; None = any size, an int = exactly that
    # size, ``[n]`` = at least n.
    shape = tuple(value.shape)
    ok = len(shape) == len(expected) and all(
        e is None or (s >= e[0] if isinstance(e, list) else s == e)
        for s, e in zip(shape, expected))
    if not ok:
        raise _invalid(path, f'key "{key}" has shape {shape}, expected '
                       f'{text}')


def load_smpl_model_file(path: str) -> Dict[str, Array]:
    """Load and validate an SMPL model file (``.pkl`` or ``.npz``).

    Args:
        path (str): An official SMPL ``.pkl`` (chumpy inside is fine) or an
            ``.npz`` with the same keys (dense ``J_regressor``).

    Returns:
        dict: ``v_template`` float64 (V, 3), ``f`` int64 (F, 3), ``shapedirs``
        float64 (V, 3, S>=10), ``posedirs`` float64 (V, 3, 207),
        ``J_regressor`` (24, V) float64 dense ndarray or scipy csc matrix,
        ``weights`` float64 (V, 24), ``kintree_table`` int64 (2, 24).
        Other keys of the file are dropped.

    Raises:
        MissingBodyModelFileError: the file does not exist.
        InvalidBodyModelFileError: unknown format, missing key, wrong shape.
        pickle.UnpicklingError: the pickle names a global that is not allowed.
    """
    path = str(path)
    if not osp.isfile(path):
        raise _missing(path, 'SMPL model file')
    ext = osp.splitext(path)[1].lower()
    if ext == '.pkl':
        try:
            data = safe_load_pickle(path)
        except (EOFError, ValueError, TypeError, IndexError,
                pickle.UnpicklingError) as exc:
            if 'refusing' in str(exc):  # a disallowed global: keep as is
                raise
            raise _invalid(path, f'not a readable SMPL pickle '
                           f'({type(exc).__name__}: {exc})') from exc
    elif ext == '.npz':
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except ValueError as exc:  # object arrays need pickle: refused
            raise _invalid(path, f'cannot read .npz without pickle ({exc})')
    else:
        raise _invalid(path, f'unknown extension "{ext}", expected .pkl or '
                       f'.npz')
    if not isinstance(data, dict):
        raise _invalid(path, f'expected a dict of arrays, found '
                       f'{type(data).__name__}')
    missing = [k for k in SMPL_MODEL_KEYS if k not in data]
    if missing:
        raise _invalid(path, f'missing key(s) {missing}; an SMPL model file '
                       f'needs {list(SMPL_MODEL_KEYS)} (found '
                       f'{sorted(map(str, data))})')
    out = {}
    for key in SMPL_MODEL_KEYS:
        value = data[key]
        try:
            value = chumpy_to_array(value, f'{path}: key "{key}" ')
        except ValueError as exc:
            raise _invalid(path, str(exc)) from None
        if scipy.sparse.issparse(value):
            value = scipy.sparse.csc_matrix(value, dtype=np.float64)
        else:
            value = np.asarray(value)
            if value.dtype == object:
                raise _invalid(path, f'key "{key}" is not a numeric array')
        out[key] = value
    num_verts = out['v_template'].shape[0] if out['v_template'].ndim else 0
    _check_shape(path, 'v_template', out['v_template'], (None, 3), '(V, 3)')
    _check_shape(path, 'f', out['f'], (None, 3), '(F, 3)')
    if not np.issubdtype(out['f'].dtype, np.integer):
        raise _invalid(path, f'key "f" has dtype {out["f"].dtype}, expected '
                       f'an integer dtype')
    V = num_verts
    _check_shape(path, 'shapedirs', out['shapedirs'], (V, 3, [10]),
                 f'(V={V}, 3, >=10)')
    _check_shape(path, 'posedirs', out['posedirs'],
                 (V, 3, NUM_SMPL_POSE_BASIS), f'(V={V}, 3, 207)')
    _check_shape(path, 'J_regressor', out['J_regressor'], (24, V),
                 f'(24, V={V})')
    _check_shape(path, 'weights', out['weights'], (V, 24), f'(V={V}, 24)')
    _check_shape(path, 'kintree_table', out['kintree_table'], (2, 24),
                 '(2, 24)')
    if out['f'].size and (out['f'].min() < 0 or out['f'].max() >= V):
        raise _invalid(path, f'key "f" indexes vertices outside [0, {V})')
    for key in ('v_template', 'shapedirs', 'posedirs', 'weights'):
        out[key] = out[key].astype(np.float64)
    if not scipy.sparse.issparse(out['J_regressor']):
        out['J_regressor'] = out['J_regressor'].astype(np.float64)
    out['f'] = out['f'].astype(np.int64)
    out['kintree_table'] = out['kintree_table'].astype(np.int64)
    return out


# ---------------------------------------------------------------------------
# Folder layout


def _check_gender(gender: str) -> str:
    if str(gender).lower() not in GENDERS:
        raise ValueError(f'gender must be one of {GENDERS}, found {gender!r}')
    return str(gender).lower()


def body_model_root(model_path: str) -> str:
    """The root of the tree for a root folder, its ``smpl/`` or a model file."""
    model_path = osp.normpath(str(model_path))
    is_file = osp.isfile(model_path) or (not osp.isdir(model_path)
                                         and bool(osp.splitext(model_path)[1]))
    folder = osp.dirname(model_path) if is_file else model_path
    if osp.basename(folder) == 'smpl' and not osp.isdir(
            osp.join(folder, 'smpl')):
        return osp.dirname(folder) or '.'
    return folder or '.'


def smpl_model_path(model_path: str, gender: str = 'neutral') -> str:
    """Path of the SMPL model file of ``gender``.

    Args:
        model_path (str): The root folder (``data/body_models``), its
            ``smpl/`` folder, or a model file (returned as is).
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``.

    Raises:
        MissingBodyModelFileError: no ``SMPL_<GENDER>.pkl`` / ``.npz`` found.
    """
    gender = _check_gender(gender)
    model_path = str(model_path)
    if osp.isfile(model_path):
        return model_path
    root = body_model_root(model_path)
    stem = f'SMPL_{gender.upper()}'
    folders = [osp.join(model_path, 'smpl'), model_path]
    for folder in folders:
        for ext in ('.pkl', '.npz'):
            candidate = osp.join(folder, stem + ext)
            if osp.isfile(candidate):
                return candidate
    if not osp.isdir(model_path) and osp.splitext(model_path)[1]:
        raise _missing(model_path, 'SMPL model file', root)
    raise _missing(osp.join(root, 'smpl', stem + '.pkl'),
                   f'SMPL {gender} model (.pkl or .npz)', root)


def body_model_files(model_path: str,
                     gender: str = 'neutral') -> Dict[str, str]:
    """All file paths of the tree for ``model_path`` (existence not checked
    except for the SMPL model file).

    Returns:
        dict: ``smpl``, ``J_regressor_extra``, ``J_regressor_h36m``,
        ``smpl_mean_params``.
    """
    root = body_model_root(model_path)
    return dict(
        smpl=smpl_model_path(model_path, gender),
        J_regressor_extra=osp.join(root, 'J_regressor_extra.npy'),
        J_regressor_h36m=osp.join(root, 'J_regressor_h36m.npy'),
        smpl_mean_params=osp.join(root, 'smpl_mean_params.npz'))


def load_joint_regressor(path: str, expected_rows: int,
                         num_vertices: int = 6890) -> np.ndarray:
    """Load a dense joint regressor ``.npy`` of shape (rows, V), float32.

    Raises:
        MissingBodyModelFileError: the file does not exist.
        InvalidBodyModelFileError: unreadable or wrong shape.
    """
    path = str(path)
    if not osp.isfile(path):
        raise _missing(path, f'joint regressor ({expected_rows} x '
                       f'{num_vertices})', body_model_root(path))
    try:
        reg = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise _invalid(path, f'cannot read as a numeric .npy ({exc})')
    if reg.shape != (expected_rows, num_vertices):
        raise _invalid(path, f'joint regressor has shape {reg.shape}, '
                       f'expected ({expected_rows}, {num_vertices})')
    if not np.issubdtype(reg.dtype, np.number) or not np.isfinite(reg).all():
        raise _invalid(path, 'joint regressor is not a finite numeric array')
    return reg.astype(np.float32)


def load_smpl_mean_params(path: str) -> Dict[str, np.ndarray]:
    """Load SPIN's ``smpl_mean_params.npz``.

    Returns:
        dict: ``pose`` float32 (144,) (24 joints in SPIN's 6D),
        ``shape`` float32 (10,), ``cam`` float32 (3,) (s, tx, ty).
    """
    path = str(path)
    if not osp.isfile(path):
        raise _missing(path, 'SMPL mean parameters', body_model_root(path))
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise _invalid(path, f'cannot read as .npz ({exc})')
    out = {}
    for key, size in (('pose', NUM_MEAN_POSE), ('shape', 10), ('cam', 3)):
        if key not in data:
            raise _invalid(path, f'missing key "{key}" (found '
                           f'{sorted(data)}); expected pose (144), shape '
                           f'(10), cam (3)')
        if data[key].size != size:
            raise _invalid(path, f'key "{key}" has shape {data[key].shape}, '
                           f'expected ({size},)')
        out[key] = data[key].reshape(size).astype(np.float32)
    return out


__all__ = [
    'BODY_MODEL_TREE', 'BodyModelFileError', 'MissingBodyModelFileError',
    'InvalidBodyModelFileError', 'ChumpyObject', 'SMPLUnpickler',
    'safe_load_pickle', 'chumpy_to_array', 'load_smpl_model_file',
    'body_model_root', 'smpl_model_path', 'body_model_files',
    'load_joint_regressor', 'load_smpl_mean_params', 'GENDERS'
]
