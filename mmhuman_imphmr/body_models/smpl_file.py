"""Reading the SMPL model files safely, without chumpy.

The official SMPL ``.pkl`` files were written by Python 2 with ``chumpy``
arrays (``chumpy.ch.Ch``), numpy arrays and a ``scipy.sparse.csc_matrix``.
chumpy no longer installs on current Python, and a plain ``pickle.load`` runs
whatever a file names. :data:`SMPL_PICKLE_POLICY` (enforced by
:mod:`mmhuman_imphmr.utils.safe_pickle`) allow-lists exactly the globals such a
file needs and turns every chumpy object into an inert :class:`ChumpyObject`
that only remembers its pickled state; a ``Ch`` keeps its value under ``x``
(chumpy ``Ch.__getstate__`` returns its ``__dict__``). Every array must be
finite, sparse matrices are fully validated, and sizes are bounded before
allocation.

The expected folder tree is :data:`BODY_MODEL_TREE`; every missing or malformed
file raises a :class:`BodyModelFileError` that prints it.
"""
import os
import os.path as osp
import pickle
from types import MappingProxyType
from typing import Any, Dict, Optional, Union

import numpy as np
import scipy.sparse

from mmhuman_imphmr.utils.safe_pickle import (NUMPY_BUILDS, BrokenFileError,
                                              Global, RefusedPickleError,
                                              UnpicklePolicy,
                                              UnreadablePickleError, load_npz,
                                              numpy_globals, read_npy,
                                              restricted_load, set_globals,
                                              sparse_builds, sparse_globals)

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
    """A body-model file missing or malformed; the message shows the tree."""


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
# Restricted unpickling (policy for utils.safe_pickle)

# Limits checked before anything is allocated. The largest legitimate array
# of an SMPL-family file is SMPL-X's posedirs (10475 x 3 x 486 = 15.3M).
MAX_ARRAY_ELEMENTS = 1 << 24
MAX_TOTAL_BYTES = 1 << 31
MAX_CHUMPY_DEPTH = 64


class ChumpyObject:
    """Inert stand-in for a pickled chumpy object; never runs chumpy code.

    Args:
        chumpy_name (str): The pickled class (``'chumpy.ch.Ch'``, ...).
        args (tuple): ``NEWOBJ`` arguments (kept, never used).
    """

    def __init__(self, chumpy_name: str = 'chumpy.ch.Ch', args: tuple = ()):
        self.chumpy_name, self.args, self.state = chumpy_name, args, {}

    def __repr__(self) -> str:
        return f'<{self.chumpy_name} stand-in, keys {sorted(self.state)}>'


class _ChumpyClass:
    """What ``find_class`` returns for a chumpy class name (not a class: a
    file cannot make the loader create classes)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f'<chumpy class {self.name} (stand-in)>'


def _chumpy_new(u, token: '_ChumpyClass', args: tuple, kwargs: dict):
    return ChumpyObject(token.name, args)


def _chumpy_build(u, inst: ChumpyObject, state: Any) -> None:
    if isinstance(state, tuple) and len(state) == 2 and \
            isinstance(state[0], dict) and state[1] is None:
        state = state[0]
    inst.state = state if isinstance(state, dict) else {'state': state}


def _chumpy_hook(module: str, name: str) -> Optional[Global]:
    if module in _CHUMPY_MODULES and name.isidentifier():
        return Global(_ChumpyClass(f'{module}.{name}'), new=_chumpy_new)
    return None


def _chumpy_children(obj: Any):
    if isinstance(obj, ChumpyObject):
        return [obj.state, obj.args]
    return None


# Derived chumpy ops that can be evaluated from their pickled state (term
# names from chumpy's ch.py / ch_ops.py / reordering.py).
def _select(s):
    out = np.asarray(s['a']).ravel()[np.asarray(s['idxs'])]
    shape = s.get('preferred_shape')
    return out.reshape(shape) if shape is not None else out


def _broadcast(op):

    def run(s):
        shape = np.broadcast_shapes(np.shape(s['a']), np.shape(s['b']))
        size = int(np.prod(shape, dtype=np.float64))
        if size > MAX_ARRAY_ELEMENTS:
            raise ValueError(f'{op.__name__} broadcasts {np.shape(s["a"])} '
                             f'and {np.shape(s["b"])} to {shape} ({size} '
                             f'elements, more than {MAX_ARRAY_ELEMENTS})')
        return op(s['a'], s['b'])

    return run


_CHUMPY_OPS = {
    'Reshape': lambda s: np.reshape(s['a'], s['newshape']),
    'transpose': lambda s: np.transpose(s['a'], s.get('axes')),
    'Select': _select,
    'add': _broadcast(np.add),
    'subtract': _broadcast(np.subtract),
    'multiply': _broadcast(np.multiply),
    'negative': lambda s: np.negative(s['a']),
}
_CHUMPY_MODULES = ('chumpy', 'chumpy.ch', 'chumpy.ch_ops', 'chumpy.reordering',
                   'chumpy.linalg', 'chumpy.logic', 'chumpy.utils')


def chumpy_to_array(obj: Any, where: str = '', _depth: int = 0) -> Any:
    """Evaluate a chumpy stand-in (recursively) to a float64 ndarray.

    Non-chumpy values are returned unchanged. Graphs are at most
    :data:`MAX_CHUMPY_DEPTH` deep (the loader refuses cycles), and an op
    whose result would exceed :data:`MAX_ARRAY_ELEMENTS` is refused before
    it is computed.

    Raises:
        ValueError: for a derived chumpy op this loader cannot evaluate, a
            too-deep graph or a too-large result.
    """
    if not isinstance(obj, ChumpyObject):
        return obj
    if _depth > MAX_CHUMPY_DEPTH:
        raise ValueError(f'{where}chumpy graph deeper than '
                         f'{MAX_CHUMPY_DEPTH} levels')
    cls = obj.chumpy_name.rsplit('.', 1)[-1]
    state = {
        k: chumpy_to_array(v, where, _depth + 1)
        for k, v in obj.state.items()
    }
    if cls == 'Ch':
        if 'x' not in state:
            raise ValueError(f'{where}chumpy object {obj.chumpy_name} has no '
                             f'value "x" in its pickled state')
        return np.asarray(state['x'], dtype=np.float64)
    if cls in _CHUMPY_OPS:
        try:
            return np.asarray(_CHUMPY_OPS[cls](state), dtype=np.float64)
        except ValueError as exc:
            raise ValueError(
                f'{where}chumpy {obj.chumpy_name}: {exc}') from None
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f'{where}chumpy {obj.chumpy_name} cannot be '
                f'evaluated ({type(exc).__name__}: {exc})') from None
    raise ValueError(
        f'{where}holds a derived chumpy object {obj.chumpy_name} that cannot '
        f'be evaluated without chumpy (supported: Ch, '
        f'{", ".join(sorted(_CHUMPY_OPS))}). Re-save the file from an '
        f'environment with chumpy with plain numpy arrays (.npz).')


SMPL_PICKLE_POLICY = UnpicklePolicy(
    what='SMPL model file',
    globals=MappingProxyType({
        **numpy_globals(),
        **set_globals(),
        **sparse_globals()
    }),
    builds=NUMPY_BUILDS + sparse_builds() + ((ChumpyObject, _chumpy_build), ),
    find_hook=_chumpy_hook,
    max_array_elements=MAX_ARRAY_ELEMENTS,
    max_total_bytes=MAX_TOTAL_BYTES,
    max_depth=MAX_CHUMPY_DEPTH,
    allow_object_arrays=False)


class UnsafeBodyModelFileError(InvalidBodyModelFileError,
                               pickle.UnpicklingError):
    """An SMPL pickle refused by the restricted unpickler."""


def safe_load_pickle(path: str) -> Any:
    """Unpickle ``path`` under :data:`SMPL_PICKLE_POLICY` (numpy arrays,
    scipy csc/csr matrices, inert chumpy stand-ins; see
    :mod:`mmhuman_imphmr.utils.safe_pickle`).

    Raises:
        RefusedPickleError: the file is refused or unreadable (the message
            names it and what was refused).
    """
    with open(path, 'rb') as f:
        return restricted_load(
            f,
            str(path),
            SMPL_PICKLE_POLICY,
            size=os.fstat(f.fileno()).st_size,
            children=_chumpy_children)


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
        InvalidBodyModelFileError: unknown format, truncated or empty file,
            missing key, wrong shape, non-finite values.
        UnsafeBodyModelFileError: the pickle was refused (a global, call or
            state that is not allowed, a size limit); also a
            ``pickle.UnpicklingError``.
    """
    path = str(path)
    if not osp.isfile(path):
        raise _missing(path, 'SMPL model file')
    ext = osp.splitext(path)[1].lower()
    try:
        if ext == '.pkl':
            data = safe_load_pickle(path)
        elif ext == '.npz':
            data = load_npz(path, max_elements=MAX_ARRAY_ELEMENTS)
        else:
            raise _invalid(
                path, f'unknown extension "{ext}", expected .pkl '
                f'or .npz')
    except UnreadablePickleError as exc:
        raise _invalid(
            path, f'not a readable SMPL pickle (truncated or '
            f'not a pickle: {exc.detail})') from None
    except RefusedPickleError as exc:
        raise UnsafeBodyModelFileError(
            f'{exc}\nExpected body-model folder:\n{_tree(None)}') from None
    except BrokenFileError as exc:
        raise InvalidBodyModelFileError(
            f'{exc}\nExpected body-model folder:\n{_tree(None)}') from None
    if not isinstance(data, dict):
        raise _invalid(
            path, f'expected a dict of arrays, found '
            f'{type(data).__name__}')
    missing = [k for k in SMPL_MODEL_KEYS if k not in data]
    if missing:
        raise _invalid(
            path, f'missing key(s) {missing}; an SMPL model file '
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
        raise _invalid(
            path, f'key "f" has dtype {out["f"].dtype}, expected '
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
    for key in ('v_template', 'shapedirs', 'posedirs', 'weights',
                'J_regressor'):
        values = out[key].data if scipy.sparse.issparse(out[key]) \
            else out[key]
        if not np.issubdtype(values.dtype, np.number):
            raise _invalid(
                path, f'key "{key}" has dtype {values.dtype}, '
                f'expected a numeric dtype')
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise _invalid(
                path, f'key "{key}" holds {bad} non-finite '
                f'value(s) (NaN/Inf); every array of an SMPL '
                f'model must be finite')
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
    """Root of the tree for a root folder, its ``smpl/`` or a model file."""
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
    raise _missing(
        osp.join(root, 'smpl', stem + '.pkl'),
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


def load_joint_regressor(path: str,
                         expected_rows: int,
                         num_vertices: int = 6890) -> np.ndarray:
    """Load a dense joint regressor ``.npy`` of shape (rows, V), float32.

    Raises:
        MissingBodyModelFileError: the file does not exist.
        InvalidBodyModelFileError: unreadable or wrong shape.
    """
    path = str(path)
    if not osp.isfile(path):
        raise _missing(
            path, f'joint regressor ({expected_rows} x '
            f'{num_vertices})', body_model_root(path))

    def shape_problem(shape):
        if tuple(shape) != (expected_rows, num_vertices):
            return (f'joint regressor has shape {tuple(shape)}, expected '
                    f'({expected_rows}, {num_vertices})')
        return None

    try:
        with open(path, 'rb') as f:
            reg = read_npy(
                f,
                path,
                os.fstat(f.fileno()).st_size,
                expected_shape=shape_problem)
    except BrokenFileError as exc:
        raise InvalidBodyModelFileError(
            f'{exc}\nExpected body-model folder:\n{_tree(None)}') from None
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
        data = load_npz(path, max_elements=1 << 16)
    except BrokenFileError as exc:
        raise InvalidBodyModelFileError(
            f'{exc}\nExpected body-model folder:\n{_tree(None)}') from None
    out = {}
    for key, size in (('pose', NUM_MEAN_POSE), ('shape', 10), ('cam', 3)):
        if key not in data:
            raise _invalid(
                path, f'missing key "{key}" (found '
                f'{sorted(data)}); expected pose (144), shape '
                f'(10), cam (3)')
        if data[key].size != size:
            raise _invalid(
                path, f'key "{key}" has shape {data[key].shape}, '
                f'expected ({size},)')
        if not np.issubdtype(data[key].dtype, np.number) or \
                not np.isfinite(data[key]).all():
            raise _invalid(path, f'key "{key}" is not a finite numeric '
                           f'array')
        out[key] = data[key].reshape(size).astype(np.float32)
    return out


__all__ = [
    'BODY_MODEL_TREE', 'BodyModelFileError', 'MissingBodyModelFileError',
    'InvalidBodyModelFileError', 'UnsafeBodyModelFileError', 'ChumpyObject',
    'SMPL_PICKLE_POLICY', 'safe_load_pickle', 'chumpy_to_array',
    'load_smpl_model_file', 'body_model_root', 'smpl_model_path',
    'body_model_files', 'load_joint_regressor', 'load_smpl_mean_params',
    'GENDERS'
]
