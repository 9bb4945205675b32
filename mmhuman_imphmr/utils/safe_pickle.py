"""Restricted unpickling and bounded ``.npy`` / ``.npz`` reading.

One module for every file format of this project that contains pickles:
SMPL model files (``body_models.smpl_file``), HumanData ``.npz`` object
members (``datasets.human_data_io``) and checkpoints
(``engine.safe_load``). Each caller describes what its files may hold in an
:class:`UnpicklePolicy`; :class:`RestrictedUnpickler` enforces it.

What a policy cannot widen (the reasons are the attacks that were tried):

* **globals**: only the ``(module, name)`` pairs of the policy resolve;
  anything else is refused by its full name. Persistent ids, extension codes
  and the protocol-0/1 ``INST`` / ``OBJ`` opcodes are refused unless the
  policy provides a handler.
* **calls**: ``REDUCE`` / ``NEWOBJ`` only run the handler registered for the
  global (numpy's ``_reconstruct`` always builds an empty array, ``dtype``
  only a fresh copy of a numeric, string or object dtype named by its code);
  an allow-listed class used as a function (``numpy.ndarray(shape)``) is
  refused, so a file cannot allocate memory it does not contain.
* **state**: ``BUILD`` (``__setstate__``) is applied only to *instances* the
  unpickler itself just created, through a validating handler per type;
  ``BUILD`` on a class (which would rewrite it for the whole process) is
  refused. numpy dtypes are never given the file's state: the state must
  equal numpy's own for the dtype code (byte order aside), so a dtype cannot
  claim "no object fields". Array data must have exactly the bytes that
  shape and dtype need; shapes are checked against element and byte limits
  before anything is allocated. Sparse matrices are rebuilt from validated
  ``data`` / ``indices`` / ``indptr`` and checked with ``full_check``.
* **structure**: :func:`check_structure` refuses cyclic and too-deep object
  graphs, so later recursive code cannot hit ``RecursionError``.
* **reads**: opcodes that announce a length are checked against the bytes
  left in the stream before allocating (``BYTEARRAY8``, ``BINBYTES8``,
  frames).

Loading never changes process state: no class attribute, registry or table
is written (``tests/test_engine/test_hostile_files.py`` checks it).
"""
import math
import pickle
import re
import reprlib
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import (IO, Any, Callable, Dict, Iterable, Mapping, NamedTuple,
                    Optional, Sequence, Tuple)

import numpy as np

_SHORT = reprlib.Repr()
_SHORT.maxstring = 80
_SHORT.maxother = 80


def short_repr(obj: Any) -> str:
    """``repr`` capped in length (for error messages about file content)."""
    return _SHORT.repr(obj)


class RefusedPickleError(pickle.UnpicklingError):
    """A pickle was refused: it names a global, call or state that the
    policy does not allow, or exceeds a limit. The message names the file."""


class UnreadablePickleError(RefusedPickleError):
    """The stream is not a readable pickle (truncated, garbage).

    Attributes:
        detail (str): What the unpickler reported, without the path.
    """

    def __init__(self, message: str, detail: str = ''):
        super().__init__(message)
        self.detail = detail


class BrokenFileError(ValueError):
    """A file is truncated or not in the expected format. The message names
    the file (and the key) and says what was expected and found."""


class Global(NamedTuple):
    """An allow-listed global.

    Attributes:
        obj: What ``find_class`` returns.
        call: ``REDUCE`` handler ``call(unpickler, *args)``; None: the object
            may not be called.
        new: ``NEWOBJ`` handler ``new(unpickler, cls, args, kwargs)``; None:
            no instances may be created.
    """
    obj: Any
    call: Optional[Callable] = None
    new: Optional[Callable] = None


@dataclass(frozen=True)
class UnpicklePolicy:
    """What one kind of file may contain.

    Args:
        what (str): The kind of file, for messages (``'SMPL model file'``).
        globals (Mapping): ``(module, name) -> Global``.
        builds (tuple): ``(type, handler)`` pairs: ``BUILD`` on an instance
            of ``type`` calls ``handler(unpickler, inst, state)``.
        find_hook (callable, optional): ``(module, name) -> Global | None``
            for names that cannot be listed (chumpy's classes).
        max_array_elements (int): Largest array (elements) allowed.
        max_total_bytes (int): Bytes of all arrays of one load together.
        max_depth (int): Deepest nesting of containers.
        allow_object_arrays (bool): Whether object-dtype arrays may appear.
    """
    what: str
    globals: Mapping[Tuple[str, str], Global]
    builds: Tuple[Tuple[type, Callable], ...] = ()
    find_hook: Optional[Callable[[str, str], Optional[Global]]] = None
    max_array_elements: int = 1 << 26
    max_total_bytes: int = 1 << 32
    max_depth: int = 64
    allow_object_arrays: bool = False


class _BoundedReader:
    """File wrapper that refuses reads beyond ``size`` bytes (announced
    lengths are checked before anything is allocated)."""

    def __init__(self, file: IO[bytes], size: Optional[int], where: str):
        self.file, self.left, self.where = file, size, where

    def read(self, n: int = -1) -> bytes:
        if self.left is not None:
            if n < 0:
                n = self.left
            if n > self.left:
                raise RefusedPickleError(
                    f'{self.where}: truncated or forged: the pickle asks for '
                    f'{n} bytes, {self.left} are left in the file')
        data = self.file.read(n)
        if self.left is not None:
            self.left -= len(data)
        return data

    def readline(self) -> bytes:
        line = self.file.readline() if self.left is None else \
            self.file.readline(self.left)
        if self.left is not None:
            self.left -= len(line)
        return line


_PyUnpickler = pickle._Unpickler  # the Python implementation: its opcode
# table can be overridden (the C one cannot).


class RestrictedUnpickler(_PyUnpickler):
    """Unpickler enforcing an :class:`UnpicklePolicy` (see module doc).

    Args:
        file: Binary file object positioned at the pickle.
        where (str): Named in every error (the path, ``path:member``).
        policy (UnpicklePolicy): What may be loaded.
        size (int, optional): Bytes available in ``file`` from here.
        persistent_load (callable, optional): Resolves persistent ids
            (checkpoints' storages); None refuses them.
    """
    dispatch = dict(_PyUnpickler.dispatch)

    def __init__(self,
                 file: IO[bytes],
                 where: str,
                 policy: UnpicklePolicy,
                 size: Optional[int] = None,
                 persistent_load: Optional[Callable[[Any], Any]] = None):
        self._reader = _BoundedReader(file, size, where)
        # latin1: Python 2 ``str`` (numpy's raw buffers) stays byte-exact.
        super().__init__(self._reader, encoding='latin1')
        self.where, self.policy = where, policy
        self._persistent = persistent_load
        self._calls: Dict[int, Tuple[Any, Callable]] = {}
        self._news: Dict[int, Tuple[Any, Callable]] = {}
        self._fresh: Dict[int, Any] = {}  # created here, awaiting BUILD
        self.dtype_codes: Dict[int, Tuple[np.dtype, str]] = {}
        self._array_bytes = 0

    # -- errors ------------------------------------------------------------
    def refuse(self, problem: str) -> RefusedPickleError:
        return RefusedPickleError(
            f'{self.where}: refused ({self.policy.what}): {problem}. The '
            f'file may be corrupt or malicious.')

    # -- globals -----------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        entry = self.policy.globals.get((module, name))
        if entry is None and self.policy.find_hook is not None:
            entry = self.policy.find_hook(module, name)
        if entry is None:
            raise self.refuse(f'refusing to load global "{module}.{name}": '
                              f'a {self.policy.what} does not contain it')
        if entry.call is not None:
            self._calls[id(entry.obj)] = (entry.obj, entry.call)
        if entry.new is not None:
            self._news[id(entry.obj)] = (entry.obj, entry.new)
        return entry.obj

    def get_extension(self, code: int) -> None:
        raise self.refuse(f'extension code {code} (copyreg registry) is not '
                          f'allowed')

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise self.refuse(f'persistent id {short_repr(pid)} is not '
                              f'allowed')
        return self._persistent(pid)

    # -- opcodes -----------------------------------------------------------
    @staticmethod
    def _name(obj: Any) -> str:
        if isinstance(obj, type) or callable(obj):
            return f'{getattr(obj, "__module__", "?")}.' \
                   f'{getattr(obj, "__qualname__", type(obj).__name__)}'
        return f'a {type(obj).__name__}'

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        found = self._calls.get(id(func))
        if found is None or found[0] is not func:
            raise self.refuse(f'calling {self._name(func)} is not allowed')
        if not isinstance(args, tuple):
            raise self.refuse(f'arguments of {self._name(func)} are not a '
                              f'tuple')
        self.stack[-1] = found[1](self, *args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls: Any, args: Any, kwargs: Any) -> Any:
        found = self._news.get(id(cls))
        if found is None or found[0] is not cls:
            raise self.refuse(f'creating an instance of {self._name(cls)} is '
                              f'not allowed')
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise self.refuse(f'malformed NEWOBJ arguments for '
                              f'{self._name(cls)}')
        obj = found[1](self, cls, args, kwargs)
        self.mark_fresh(obj)
        return obj

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _refuse_opcode(self, name: str) -> None:
        raise self.refuse(f'opcode {name} (class instantiation of protocol '
                          f'0/1 pickles) is not allowed')

    dispatch[pickle.INST[0]] = lambda self: self._refuse_opcode('INST')
    dispatch[pickle.OBJ[0]] = lambda self: self._refuse_opcode('OBJ')

    def load_bytearray8(self) -> None:
        n, = struct.unpack('<Q', self.read(8))
        left = self._reader.left
        if left is not None and n > left:
            raise self.refuse(f'BYTEARRAY8 announces {n} bytes, {left} are '
                              f'left in the file')
        buf = bytearray(n)
        self.readinto(buf)
        self.append(buf)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, type):
            raise self.refuse(
                f'BUILD on the class {self._name(inst)} itself (it would '
                f'change the class for the whole process)')
        for typ, handler in self.policy.builds:
            if isinstance(inst, typ):
                if self._fresh.pop(id(inst), None) is not inst:
                    raise self.refuse(
                        f'BUILD on a {type(inst).__qualname__} that this '
                        f'load did not just create')
                handler(self, inst, state)
                return
        raise self.refuse(f'setting the state (BUILD) of a '
                          f'{type(inst).__module__}.'
                          f'{type(inst).__qualname__} is not allowed')

    dispatch[pickle.BUILD[0]] = load_build

    # -- helpers for handlers ----------------------------------------------
    def mark_fresh(self, obj: Any) -> Any:
        """Record that ``obj`` was created by this load (BUILD may follow)."""
        self._fresh[id(obj)] = obj
        return obj

    def check_dtype(self, dtype: Any) -> np.dtype:
        """``dtype`` must be one this load built (so numpy's own)."""
        if not isinstance(dtype, np.dtype) or \
                self.dtype_codes.get(id(dtype), (None, ))[0] is not dtype:
            raise self.refuse(f'expected a numpy dtype built by this file, '
                              f'found {self._name(dtype)}')
        if dtype.hasobject and not self.policy.allow_object_arrays:
            raise self.refuse(f'object arrays (dtype {dtype}) are not '
                              f'allowed in a {self.policy.what}')
        return dtype

    def check_array(self, shape: Any, dtype: Any) -> int:
        """Validate ``shape`` / ``dtype`` against the limits; return nbytes
        (counted into the load's byte budget) before anything allocates."""
        dtype = self.check_dtype(dtype)
        if not isinstance(shape, tuple) or len(shape) > 32 or not all(
                type(s) is int and s >= 0 for s in shape):
            raise self.refuse(f'invalid array shape {short_repr(shape)}')
        size = math.prod(shape)
        if size > self.policy.max_array_elements:
            raise self.refuse(
                f'array of shape {shape} has {size} elements, more than the '
                f'{self.policy.max_array_elements} a {self.policy.what} may '
                f'hold')
        nbytes = size * dtype.itemsize
        self._array_bytes += nbytes
        if self._array_bytes > self.policy.max_total_bytes:
            raise self.refuse(
                f'arrays total more than {self.policy.max_total_bytes} bytes')
        return nbytes

    def raw_bytes(self, raw: Any, nbytes: int, what: str) -> bytes:
        if isinstance(raw, str):  # Python 2 str read as latin1
            try:
                raw = raw.encode('latin1')
            except UnicodeEncodeError:
                raise self.refuse(f'{what}: data is not a byte string')
        if isinstance(raw, pickle.PickleBuffer):
            raw = bytes(raw.raw())
        if not isinstance(raw, (bytes, bytearray)):
            raise self.refuse(f'{what}: data is a {type(raw).__name__}, not '
                              f'bytes')
        if len(raw) != nbytes:
            raise self.refuse(
                f'{what}: data holds {len(raw)} bytes, shape and '
                f'dtype need {nbytes} (truncated or forged)')
        return bytes(raw)


# ---------------------------------------------------------------------------
# numpy

_DTYPE_CODE = re.compile(r'(b1|[iu][1248]|f[248]|c(8|16)|O[48]|[US]\d{1,9})\Z')


def _numpy_reconstruct(u: RestrictedUnpickler, subtype: Any, shape: Any,
                       code: Any) -> np.ndarray:
    # numpy pickles ``_reconstruct(ndarray, (0,), b'b')`` + BUILD(state).
    if subtype is not np.ndarray or shape != (0, ) or code not in (b'b', 'b'):
        raise u.refuse(f'numpy _reconstruct({u._name(subtype)}, '
                       f'{short_repr(shape)}, {short_repr(code)}) is not '
                       f"numpy's array pickle")
    return u.mark_fresh(np.ndarray((0, ), np.int8))


def _build_array(u: RestrictedUnpickler, inst: np.ndarray, state: Any) -> None:
    if type(inst) is not np.ndarray:
        raise u.refuse(f'BUILD on a {type(inst).__qualname__}')
    if isinstance(state, tuple) and len(state) == 4:
        state = (1, ) + state  # numpy < 1.? wrote no version
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1
            and isinstance(state[3], bool)):
        raise u.refuse(f'numpy array state is not (1, shape, dtype, '
                       f'fortran, data): {short_repr(state)}')
    _, shape, dtype, fortran, raw = state
    nbytes = u.check_array(shape, dtype)
    what = f'array of shape {shape} dtype {dtype}'
    if dtype.hasobject:
        if not isinstance(raw, list) or len(raw) != math.prod(shape):
            raise u.refuse(f'{what}: object data is not a list of '
                           f'{math.prod(shape)} items')
    else:
        raw = u.raw_bytes(raw, nbytes, what)
    inst.__setstate__((1, shape, dtype, fortran, raw))


def _numpy_dtype(u: RestrictedUnpickler,
                 code: Any,
                 align: Any = False,
                 copy: Any = True) -> np.dtype:
    if isinstance(code, bytes):
        code = code.decode('latin1')
    if not isinstance(code, str) or not _DTYPE_CODE.match(code) or \
            align not in (False, 0):
        raise u.refuse(f'numpy dtype {short_repr(code)} (align='
                       f'{short_repr(align)}) is not a plain numeric, string '
                       f'or object dtype')
    dtype = np.dtype(code, False, True)  # a fresh copy, never numpy's own
    u.dtype_codes[id(dtype)] = (dtype, code)
    return u.mark_fresh(dtype)


def _build_dtype(u: RestrictedUnpickler, inst: np.dtype, state: Any) -> None:
    # The file's state is never applied: it must equal numpy's own state of
    # the dtype named by the code (else a dtype could claim "no object
    # fields" and numpy would read raw bytes as object pointers).
    code = u.dtype_codes[id(inst)][1]
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
    ref = np.dtype(code)
    if order == '>' and ref.byteorder != '|':
        ref = ref.newbyteorder('>')
    elif order == '<' and ref.byteorder != '|':
        ref = ref.newbyteorder('<')
    expected = ref.__reduce__()[2]
    same = isinstance(state, tuple) and len(state) == len(expected) and all(
        type(a) is type(b) and a == b for a, b in zip(state, expected))
    if not same:
        raise u.refuse(f'numpy dtype {code!r} with state {short_repr(state)}'
                       f' (numpy\'s own is {expected!r})')
    if ref.byteorder not in ('=', '|') and ref.byteorder != inst.byteorder:
        inst.__setstate__(expected)  # numpy's state, e.g. big-endian


def _numpy_scalar(u: RestrictedUnpickler, dtype: Any, data: Any = None) -> Any:
    dtype = u.check_dtype(dtype)
    if dtype.hasobject:
        return data  # numpy: scalar(dtype('O'), obj) is obj
    raw = u.raw_bytes(data, dtype.itemsize, f'numpy scalar of dtype {dtype}')
    return _NUMPY_SCALAR(dtype, raw)


def _numpy_frombuffer(u: RestrictedUnpickler, buf: Any, dtype: Any, shape: Any,
                      order: Any) -> np.ndarray:
    # numpy's protocol-5 array pickle.
    nbytes = u.check_array(shape, dtype)
    if dtype.hasobject or order not in ('C', 'F'):
        raise u.refuse(f'numpy _frombuffer of dtype {dtype} order '
                       f'{short_repr(order)}')
    raw = u.raw_bytes(buf, nbytes, f'array of shape {shape} dtype {dtype}')
    return np.frombuffer(
        raw, dtype=dtype).reshape(
            shape, order=order).copy(order='A')


def _latin1_encode(u: RestrictedUnpickler,
                   text: Any,
                   encoding: Any = 'latin1') -> bytes:
    # Python 3 writes ``bytes`` at protocol < 3 as encode(text, 'latin1').
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise u.refuse(f'_codecs.encode(..., {short_repr(encoding)}) is not '
                       f'the latin1 bytes encoding')
    return text.encode('latin1')


def _make_set(u: RestrictedUnpickler, items: Any = ()) -> set:
    if not isinstance(items, (list, tuple)):
        raise u.refuse(f'set({u._name(items)})')
    try:
        return set(items)
    except TypeError as exc:
        raise u.refuse(f'set of unhashable items ({exc})')


def _numpy_module_attr(modules: Sequence[str], name: str) -> Any:
    import importlib
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f'numpy has no {name}')  # pragma: no cover


_NUMPY_SCALAR = _numpy_module_attr(
    ('numpy._core.multiarray', 'numpy.core.multiarray'), 'scalar')


def numpy_globals() -> Dict[Tuple[str, str], Global]:
    """numpy arrays, dtypes and scalars under numpy 1.x and 2.x names, plus
    ``_codecs.encode`` (Python 3 bytes at protocol < 3)."""
    out: Dict[Tuple[str, str], Global] = {}
    reconstruct = _numpy_module_attr(
        ('numpy._core.multiarray', 'numpy.core.multiarray'), '_reconstruct')
    frombuffer = _numpy_module_attr(
        ('numpy._core.numeric', 'numpy.core.numeric'), '_frombuffer')
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        out[(module, '_reconstruct')] = Global(
            reconstruct, call=_numpy_reconstruct)
        out[(module, 'scalar')] = Global(_NUMPY_SCALAR, call=_numpy_scalar)
    for module in ('numpy.core.numeric', 'numpy._core.numeric'):
        out[(module, '_frombuffer')] = Global(
            frombuffer, call=_numpy_frombuffer)
    out[('numpy', 'ndarray')] = Global(np.ndarray)  # argument only
    out[('numpy', 'dtype')] = Global(np.dtype, call=_numpy_dtype)
    out[('_codecs', 'encode')] = Global(_codecs_encode, call=_latin1_encode)
    return out


def _codecs_encode(*args: Any) -> None:
    """Stand-in for ``_codecs.encode`` (a file only reaches the checked
    :func:`_latin1_encode` through it)."""
    raise RuntimeError('not callable')  # pragma: no cover


def set_globals() -> Dict[Tuple[str, str], Global]:
    """``set`` under its Python 2 and 3 names (chumpy's ``_dirty_vars``)."""
    return {
        (m, 'set'): Global(set, call=_make_set)
        for m in ('__builtin__', 'builtins')
    }


NUMPY_BUILDS: Tuple[Tuple[type, Callable], ...] = ((np.ndarray, _build_array),
                                                   (np.dtype, _build_dtype))

# ---------------------------------------------------------------------------
# scipy.sparse


def _sparse_new(u: RestrictedUnpickler, cls: type, args: tuple,
                kwargs: dict) -> Any:
    if args or kwargs:
        raise u.refuse(f'{cls.__name__} created with arguments')
    return object.__new__(cls)


def _index_array(u: RestrictedUnpickler, value: Any, name: str,
                 fmt: str) -> np.ndarray:
    if type(value) is not np.ndarray or value.ndim != 1 or \
            value.dtype.kind not in 'iu':
        raise u.refuse(f'{fmt}_matrix "{name}" is not a 1-D integer array')
    return value


def _build_sparse(u: RestrictedUnpickler, inst: Any, state: Any) -> None:
    import scipy.sparse
    fmt = inst.format if isinstance(inst, (scipy.sparse.csc_matrix,
                                           scipy.sparse.csr_matrix)) else '?'
    if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
        state = state[0]
    if not isinstance(state, dict):
        raise u.refuse(f'{fmt}_matrix state is a {type(state).__name__}')
    shape = state.get('_shape', state.get('shape'))
    if not (isinstance(shape, tuple) and len(shape) == 2
            and all(type(s) is int and s >= 0 for s in shape)):
        raise u.refuse(f'{fmt}_matrix shape {short_repr(shape)}')
    if math.prod(shape) > u.policy.max_array_elements:
        raise u.refuse(f'{fmt}_matrix of shape {shape} is larger than the '
                       f'{u.policy.max_array_elements} elements allowed')
    data = state.get('data')
    if type(data) is not np.ndarray or data.ndim != 1 or \
            data.dtype.kind not in 'biufc':
        raise u.refuse(f'{fmt}_matrix "data" is not a 1-D numeric array')
    indices = _index_array(u, state.get('indices'), 'indices', fmt)
    indptr = _index_array(u, state.get('indptr'), 'indptr', fmt)
    major, minor = (shape[1], shape[0]) if fmt == 'csc' else shape
    problem = None
    if len(indptr) != major + 1:
        problem = f'indptr has {len(indptr)} entries, expected {major + 1}'
    elif len(indices) != len(data):
        problem = f'{len(indices)} indices for {len(data)} values'
    elif indptr[0] != 0 or indptr[-1] != len(data) or \
            (np.diff(indptr.astype(np.int64)) < 0).any():
        problem = 'indptr is not a non-decreasing 0..nnz sequence'
    elif len(indices) and (indices.min() < 0 or indices.max() >= minor):
        problem = (f'indices outside [0, {minor}) (found '
                   f'{indices.min()}..{indices.max()})')
    if problem is not None:
        raise u.refuse(f'{fmt}_matrix of shape {shape}: {problem}')
    inst.__init__((data, indices, indptr), shape=shape, copy=True)
    try:
        inst.check_format(full_check=True)
    except (ValueError, TypeError) as exc:
        raise u.refuse(f'{fmt}_matrix fails scipy\'s full check ({exc})')


def sparse_globals() -> Dict[Tuple[str, str], Global]:
    """``csc_matrix`` / ``csr_matrix`` under old and new scipy module
    names (created empty, then rebuilt from validated state)."""
    import scipy.sparse
    out = {}
    for fmt in ('csc', 'csr'):
        cls = getattr(scipy.sparse, f'{fmt}_matrix')
        for module in (f'scipy.sparse.{fmt}', f'scipy.sparse._{fmt}',
                       'scipy.sparse'):
            out[(module, f'{fmt}_matrix')] = Global(cls, new=_sparse_new)
    return out


def sparse_builds() -> Tuple[Tuple[type, Callable], ...]:
    import scipy.sparse
    return ((scipy.sparse.csc_matrix, _build_sparse), (scipy.sparse.csr_matrix,
                                                       _build_sparse))


# ---------------------------------------------------------------------------
# Loading and structure checks

_READ_ERRORS = (EOFError, ValueError, TypeError, IndexError, KeyError,
                AttributeError, OverflowError, struct.error,
                UnicodeDecodeError, MemoryError, RecursionError,
                pickle.UnpicklingError, zlib.error, zipfile.BadZipFile)


def restricted_load(file: IO[bytes],
                    where: str,
                    policy: UnpicklePolicy,
                    size: Optional[int] = None,
                    persistent_load: Optional[Callable] = None,
                    children: Optional[Callable[[Any],
                                                Iterable]] = None) -> Any:
    """Unpickle one object under ``policy`` and :func:`check_structure` it.

    Raises:
        RefusedPickleError: refused by the policy, or the stream is not a
            readable pickle (truncated, garbage); the message names
            ``where``.
    """
    unpickler = RestrictedUnpickler(file, where, policy, size, persistent_load)
    try:
        obj = unpickler.load()
    except RefusedPickleError:
        raise
    except _READ_ERRORS as exc:
        detail = f'{type(exc).__name__}: {short_repr(str(exc))}'
        raise UnreadablePickleError(
            f'{where}: not a readable {policy.what} (truncated or not a '
            f'pickle: {detail})', detail) from None
    check_structure(obj, where, policy.max_depth, children)
    return obj


def check_structure(obj: Any,
                    where: str,
                    max_depth: int = 64,
                    children: Optional[Callable[[Any],
                                                Iterable]] = None) -> None:
    """Refuse cyclic or deeper-than-``max_depth`` container graphs.

    Iterative (never recursion); each object is visited once. ``children``
    maps other container types (chumpy stand-ins) to their members.
    """
    done = set()
    on_path = set()
    todo = [(obj, 0, False)]
    while todo:
        item, depth, leaving = todo.pop()
        if leaving:
            on_path.discard(id(item))
            done.add(id(item))
            continue
        if isinstance(item, dict):
            members: Iterable = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            members = item
        elif isinstance(item, np.ndarray) and item.dtype.hasobject:
            members = item.ravel().tolist()
        else:
            members = children(item) if children is not None else None
            if members is None:
                continue
        if id(item) in on_path:
            raise RefusedPickleError(f'{where}: refused: cyclic reference '
                                     f'(a {type(item).__name__} contains '
                                     f'itself)')
        if id(item) in done:
            continue
        if depth > max_depth:
            raise RefusedPickleError(f'{where}: refused: objects nested '
                                     f'deeper than {max_depth} levels')
        on_path.add(id(item))
        todo.append((item, depth, True))
        todo.extend((m, depth + 1, False) for m in members)


# ---------------------------------------------------------------------------
# .npy / .npz

_NPY_KINDS = 'biufcUS'


def read_npy(f: IO[bytes],
             where: str,
             size: int,
             policy: Optional[UnpicklePolicy] = None,
             max_elements: int = 1 << 30,
             expected_shape: Optional[Callable[[tuple],
                                               Optional[str]]] = None) -> Any:
    """Read one ``.npy`` stream of ``size`` bytes, checking before reading.

    The header's shape and dtype are checked against ``max_elements``,
    ``expected_shape`` (returns a problem or None) and the bytes present, so
    a header that promises more than the file holds, or a huge array, is
    refused before anything is allocated. Object arrays are unpickled with
    ``policy`` (refused when None).

    Raises:
        BrokenFileError: truncated, not ``.npy``, wrong shape / dtype.
        RefusedPickleError: an object member refused by ``policy``.
    """
    try:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, version)
    except _READ_ERRORS as exc:
        raise BrokenFileError(f'{where}: not a readable .npy array '
                              f'({type(exc).__name__}: {exc})') from None
    left = size - f.tell() if hasattr(f, 'tell') else size
    if dtype.hasobject:
        if policy is None:
            raise BrokenFileError(f'{where}: is an object array (a pickle); '
                                  f'only numeric arrays are expected')
        value = restricted_load(f, where, policy, size=left)
        return value.item() if isinstance(value, np.ndarray) and \
            value.shape == () else value
    if dtype.kind not in _NPY_KINDS or dtype.names is not None:
        raise BrokenFileError(f'{where}: dtype {dtype} is not a plain '
                              f'numeric or string dtype')
    count = math.prod(shape)
    if expected_shape is not None:
        problem = expected_shape(shape)
        if problem:
            raise BrokenFileError(f'{where}: {problem}')
    if count > max_elements:
        raise BrokenFileError(f'{where}: shape {shape} has {count} elements, '
                              f'more than the {max_elements} allowed')
    nbytes = count * dtype.itemsize
    if nbytes > left:
        raise BrokenFileError(
            f'{where}: truncated: the header promises shape {shape} '
            f'{dtype} ({nbytes} bytes), the file holds {left} bytes of data')
    try:
        data = _read_exactly(f, nbytes)
    except _READ_ERRORS as exc:
        raise BrokenFileError(f'{where}: corrupt data ({type(exc).__name__}:'
                              f' {exc})') from None
    if len(data) != nbytes:
        raise BrokenFileError(f'{where}: truncated: {len(data)} of {nbytes} '
                              f'bytes of data')
    arr = np.frombuffer(
        data, dtype=dtype, count=count).reshape(
            shape, order='F' if fortran else 'C').copy(order='A')
    return arr


def _read_exactly(f: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = f.read(min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def open_npz(path: str) -> zipfile.ZipFile:
    """Open an ``.npz`` / zip, naming the file when it is not one."""
    import os
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise BrokenFileError(f'{path}: cannot be read ({exc})') from None
    if size == 0:
        raise BrokenFileError(f'{path}: empty file (0 bytes), expected an '
                              f'.npz (zip) archive')
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BrokenFileError(
            f'{path}: not a readable .npz (zip) archive: truncated or another '
            f'format ({type(exc).__name__}: {exc})') from None


def load_npz(path: str,
             keys: Optional[Iterable[str]] = None,
             policy: Optional[UnpicklePolicy] = None,
             max_elements: int = 1 << 30,
             expected_shapes: Optional[Mapping[str, Callable]] = None
             ) -> Dict[str, Any]:
    """Read members of an ``.npz`` with :func:`read_npy` (all or ``keys``).

    Missing ``keys`` are skipped (callers report what they need).
    """
    expected_shapes = expected_shapes or {}
    with open_npz(path) as zf:
        members = {
            n[:-4]: zf.getinfo(n)
            for n in zf.namelist() if n.endswith('.npy')
        }
        wanted = list(members) if keys is None else \
            [k for k in keys if k in members]
        out = {}
        for key in wanted:
            info = members[key]
            where = f'{path}: key "{key}"'
            try:
                with zf.open(info) as f:
                    out[key] = read_npy(f, where, info.file_size, policy,
                                        max_elements, expected_shapes.get(key))
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise BrokenFileError(
                    f'{where}: corrupt member '
                    f'({type(exc).__name__}: {exc})') from None
        return out


def npz_member_names(path: str) -> list:
    """Member names (without ``.npy``) of an ``.npz``, named errors."""
    with open_npz(path) as zf:
        return [n[:-4] for n in zf.namelist() if n.endswith('.npy')]


__all__ = [
    'RefusedPickleError', 'UnreadablePickleError', 'BrokenFileError', 'Global',
    'UnpicklePolicy', 'RestrictedUnpickler', 'restricted_load',
    'check_structure', 'numpy_globals', 'set_globals', 'sparse_globals',
    'sparse_builds', 'NUMPY_BUILDS', 'read_npy', 'load_npz', 'open_npz',
    'npz_member_names', 'short_repr'
]
