"""Hostile and broken files (issue 10): one test per input class.

Each test builds its own file in a temp dir (no committed binaries) and loads
it in a subprocess, which prints the refusal and whether any class or table
of numpy / scipy / mmengine / torch that a load could touch changed (the
``SNAPSHOT`` below); the test asserts on the exit status (a segfault or a
MemoryError crash would fail it), the message (it names the file and what is
wrong), the peak-memory growth for the resource bombs, and "UNCHANGED".
"""
import collections
import io
import os.path as osp
import pickle
import struct
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest
import scipy.sparse
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
V = 30

CHILD = r'''
import collections, copyreg, resource, sys
sys.path.insert(0, {repo!r})
import numpy as np, scipy.sparse, torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from mmhuman_imphmr.engine.safe_load import safe_load_checkpoint
{imports}
HistoryBuffer()  # mmengine's defaults, as any run has them

def snapshot():
    out = {{}}
    classes = [scipy.sparse.csc_matrix, scipy.sparse.csr_matrix,
               scipy.sparse._compressed._cs_matrix,
               scipy.sparse._base._spbase, HistoryBuffer,
               collections.OrderedDict, set, np.ndarray, np.dtype,
               type(np.dtype('f8')), type(np.dtype('O')), torch.Tensor]
    for cls in classes:
        out[cls.__qualname__] = {{k: id(v) for k, v in vars(cls).items()}}
    out['statistics'] = {{k: id(v) for k, v in
                          HistoryBuffer._statistics_methods.items()}}
    out['schemes'] = {{k: id(v) for k, v in
                       CheckpointLoader._schemes.items()}}
    out['copyreg'] = (dict(copyreg._extension_registry),
                      {{k: id(v) for k, v in copyreg.dispatch_table.items()}})
    out['dtypes'] = [(c, np.dtype(c).__reduce__(), np.dtype(c).hasobject)
                     for c in ('f8', 'O', 'i8', 'U4')]
    return out

before = snapshot()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    {call}
    print('LOADED')
except Exception as exc:
    print(f'REFUSED {{type(exc).__name__}}: {{exc}}')
grow = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
print(f'RSS_GROWTH_MB={{grow:.0f}}')
after = snapshot()
print('UNCHANGED' if after == before else
      'CHANGED ' + repr([k for k in before if before[k] != after[k]]))
mean = HistoryBuffer([1, 3], [1, 1]).statistics('mean')
print('MEAN_OK' if mean == 2 else f'MEAN_FORGED {{mean}}')
'''


def child_script(call: str) -> str:
    """The child program; the loader's module is imported before the first
    snapshot (import-time registration is code, not a file's doing)."""
    imports = []
    if 'load_smpl_model_file' in call:
        imports.append('from mmhuman_imphmr.body_models.smpl_file import '
                       'load_smpl_model_file')
    if 'load_human_data' in call:
        imports.append('from mmhuman_imphmr.datasets.human_data_io import '
                       'load_human_data')
    if 'make_runner' in call:
        # A first training run registers what building dataloaders
        # registers (copyreg entries); the snapshot then sees only the load.
        imports.append(f'sys.path.insert(0, {osp.join(REPO, "tests")!r}); '
                       'from test_engine.toy_runner import make_runner; '
                       'import shutil, tempfile; _w = tempfile.mkdtemp(); '
                       'make_runner(_w, max_epochs=1).train(); '
                       'shutil.rmtree(_w)')
    return CHILD.format(repo=REPO, call=call, imports='\n'.join(imports))


def run_hostile(call: str, timeout: int = 180) -> str:
    """Run ``call`` in a fresh interpreter; return its output. The process
    must survive (exit 0) and leave every class and table unchanged."""
    proc = subprocess.run([sys.executable, '-c',
                           child_script(call)],
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'exit {proc.returncode}:\n{out}'
    assert 'UNCHANGED' in out, out
    assert 'MEAN_OK' in out, out
    return out


def assert_refused(out: str,
                   path: str,
                   *expected: str,
                   max_rss_mb: float = 300) -> None:
    line = next((x for x in out.splitlines() if x.startswith('REFUSED')), None)
    assert line is not None, out
    assert path in line, line
    for text in expected:
        assert text in out, f'{text!r} not in:\n{out}'
    grow = float(out.split('RSS_GROWTH_MB=')[1].split()[0])
    assert grow < max_rss_mb, f'{grow} MB:\n{out}'


# ---------------------------------------------------------------------------
# building blocks for hand-made pickles


class Reduce:
    """Pickles as ``func(*args)`` followed by BUILD(state) when given."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        if self.state is None:
            return self.func, self.args
        return self.func, self.args, self.state


def smpl_arrays(num_verts=V):
    rng = np.random.default_rng(0)
    weights = rng.random((num_verts, 24))
    return dict(
        v_template=rng.standard_normal((num_verts, 3)),
        f=rng.integers(0, num_verts, (40, 3)).astype(np.int64),
        shapedirs=rng.standard_normal((num_verts, 3, 10)),
        posedirs=rng.standard_normal((num_verts, 3, 207)),
        J_regressor=scipy.sparse.random(
            24, num_verts, density=0.2, format='csc', random_state=0),
        weights=weights / weights.sum(1, keepdims=True),
        kintree_table=np.array([[-1] + list(range(23)),
                                list(range(24))]))


def dump(path, obj, protocol=2):
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


def smpl_call(path):
    return f'load_smpl_model_file({str(path)!r})'


class _FakeChumpy:

    def __init__(self, **terms):
        self.__dict__.update(terms)


@pytest.fixture
def chumpy_classes(monkeypatch):
    """Throwaway ``chumpy.*`` modules, present only while pickling."""
    classes = {}
    for module, names in (('chumpy.ch', ['Ch']), ('chumpy.ch_ops', ['add']),
                          ('chumpy.reordering', ['Reshape'])):
        mod = types.ModuleType(module)
        for name in names:
            cls = type(name, (_FakeChumpy, ), {'__module__': module})
            setattr(mod, name, cls)
            classes[name] = cls
        monkeypatch.setitem(sys.modules, module, mod)
    monkeypatch.setitem(sys.modules, 'chumpy', types.ModuleType('chumpy'))
    return classes


# -- raw opcodes (pickle protocol 2; the unpickler accepts all of them) --
def op_global(module, name):
    return b'c' + f'{module}\n{name}\n'.encode()


def op_str(text):
    data = text.encode()
    return b'X' + struct.pack('<I', len(data)) + data


PROTO2 = b'\x80\x02'

# ---------------------------------------------------------------------------
# SMPL model files: memory corruption, process state, resource bombs


def test_smpl_dtype_state_claiming_no_object_fields(tmp_path):
    # numpy's dtype('O8') with the state of a plain dtype (flags 0): numpy
    # would read the raw bytes below as object pointers (SIGSEGV before).
    forged = Reduce(np.dtype, ('O8', False, True),
                    (3, '|', None, None, None, -1, -1, 0))
    array = Reduce(np.core.multiarray._reconstruct, (np.ndarray, (0, ), b'b'),
                   (1, (4, ), forged, False, b'\x41' * 32))
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl',
                dict(smpl_arrays(), v_template=array))
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, "numpy dtype 'O8' with state",
                   "numpy's own is (3, '|', None, None, None, -1, -1, 63)")


def test_smpl_structured_dtype_with_object_field(tmp_path):
    forged = Reduce(np.dtype, ('V16', False, True))
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl',
                dict(smpl_arrays(), v_template=forged))
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, "numpy dtype 'V16'",
                   'is not a plain numeric, string or object dtype')


def test_smpl_sparse_indices_out_of_range(tmp_path):
    arrays = smpl_arrays()
    reg = arrays['J_regressor']
    reg.indices[0] = 10**6  # written behind scipy's back
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl', arrays)
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, 'csc_matrix of shape (24, 30): indices outside '
                   '[0, 24)', '1000000')


def test_smpl_build_on_a_class_is_refused(tmp_path):
    # BUILD(None, {'check_format': set}) on the class csc_matrix itself would
    # make csc_matrix.check_format builtins.set for the whole process.
    raw = (
        PROTO2 + op_global('scipy.sparse._csc', 'csc_matrix') + b'N}' +
        op_str('check_format') + op_global('builtins', 'set') + b's' +
        b'\x86' + b'b.')
    path = str(tmp_path / 'SMPL_NEUTRAL.pkl')
    with open(path, 'wb') as f:
        f.write(raw)
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, 'BUILD on the class '
                   'scipy.sparse._csc.csc_matrix itself')


def test_smpl_broadcast_bomb(tmp_path, chumpy_classes):
    # 2 x 16000 values broadcast to 16000 x 16000 (2 GB) by chumpy's add.
    c = chumpy_classes
    bomb = c['add'](
        a=c['Ch'](x=np.ones((16000, 1))), b=c['Ch'](x=np.ones((1, 16000))))
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl',
                dict(smpl_arrays(), v_template=bomb))
    out = run_hostile(smpl_call(path))
    assert_refused(
        out,
        path, 'add broadcasts (16000, 1) and (1, 16000) to '
        '(16000, 16000)',
        max_rss_mb=200)


def test_smpl_uninitialised_allocation(tmp_path):
    # numpy.ndarray((6890, 3, 12000)) would allocate 2 GB from a few bytes.
    alloc = Reduce(np.ndarray, ((6890, 3, 12000), 'f8'))
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl',
                dict(smpl_arrays(), shapedirs=alloc))
    out = run_hostile(smpl_call(path))
    assert_refused(
        out, path, 'calling numpy.ndarray is not allowed', max_rss_mb=100)
    # The same size announced through numpy's own array pickle.
    f8 = Reduce(np.dtype, ('f8', False, True),
                (3, '<', None, None, None, -1, -1, 0))
    big = Reduce(np.core.multiarray._reconstruct, (np.ndarray, (0, ), b'b'),
                 (1, (6890, 3, 12000), f8, False, b'\0' * 8))
    path = dump(tmp_path / 'SMPL_MALE.pkl', dict(smpl_arrays(), shapedirs=big))
    out = run_hostile(smpl_call(path))
    assert_refused(
        out,
        path, 'array of shape (6890, 3, 12000) has '
        '248040000 elements, more than the 16777216',
        max_rss_mb=100)


def test_smpl_deep_and_cyclic_chumpy_graphs(tmp_path):
    reshape = op_global('chumpy.reordering', 'Reshape') + b'q\x01'
    get = b'h\x01'
    depth = 5000
    prefix = get + b')\x81}' + op_str('a')  # NEWOBJ, state dict, key 'a'
    raw = (
        PROTO2 + reshape + b'0' + prefix * depth + b'K\x01' + b'sb' * depth +
        b'.')
    path = str(tmp_path / 'deep.pkl')
    with open(path, 'wb') as f:
        f.write(raw)
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, 'objects nested deeper than 64 levels')
    # Ch whose value "x" is the Ch itself.
    raw = (
        PROTO2 + op_global('chumpy.ch', 'Ch') + b')\x81q\x02}' + op_str('x') +
        b'h\x02sb.')
    path = str(tmp_path / 'cyclic.pkl')
    with open(path, 'wb') as f:
        f.write(raw)
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, 'cyclic reference')


def test_smpl_extension_code_and_persistent_id(tmp_path):
    for name, raw, message in (('ext.pkl', PROTO2 + b'\x82\x01.',
                                'extension code 1'),
                               ('pid.pkl', PROTO2 + b'K\x01Q.',
                                'persistent id 1')):
        path = str(tmp_path / name)
        with open(path, 'wb') as f:
            f.write(raw)
        assert_refused(run_hostile(smpl_call(path)), path, message)


@pytest.mark.parametrize('key', ['v_template', 'shapedirs'])
@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_smpl_non_finite_arrays(tmp_path, key, value):
    arrays = smpl_arrays()
    arrays[key] = arrays[key].copy()
    arrays[key].flat[3] = value
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl', arrays)
    out = run_hostile(smpl_call(path))
    assert_refused(out, path, f'key "{key}" holds 1 non-finite value(s)')


def test_smpl_npz_empty_and_truncated(tmp_path):
    empty = str(tmp_path / 'SMPL_NEUTRAL.npz')
    open(empty, 'wb').close()
    assert_refused(
        run_hostile(smpl_call(empty)), empty,
        'empty file (0 bytes), expected an .npz')
    full = str(tmp_path / 'full.npz')
    arrays = smpl_arrays()
    arrays['J_regressor'] = arrays['J_regressor'].toarray()
    np.savez(full, **arrays)
    data = open(full, 'rb').read()
    cut = str(tmp_path / 'SMPL_MALE.npz')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    assert_refused(
        run_hostile(smpl_call(cut)), cut,
        'not a readable .npz (zip) archive: truncated')


# ---------------------------------------------------------------------------
# HumanData files


def _human_data(path, num=10):
    from mmhuman_imphmr.datasets import save_human_data
    save_human_data(
        str(path),
        dict(
            image_path=np.array([f'{i}.png' for i in range(num)]),
            bbox_xywh=np.tile([[0., 0., 20., 20., 1.]], (num, 1)),
            smpl=dict(betas=np.zeros((num, 10)))))
    return str(path)


def test_human_data_truncated_and_not_zip(tmp_path):
    full = _human_data(tmp_path / 'full.npz')
    data = open(full, 'rb').read()
    cut = str(tmp_path / 'cut.npz')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    out = run_hostile(f'load_human_data({cut!r})')
    assert_refused(out, cut, 'not a readable .npz (zip) archive')
    text = str(tmp_path / 'text.npz')
    with open(text, 'w') as f:
        f.write('image_path,bbox\n')
    assert_refused(
        run_hostile(f'load_human_data({text!r})'), text,
        'not a readable .npz (zip) archive')


@pytest.mark.parametrize('rows', [1000, 10**12])
def test_human_data_header_promises_more_rows(tmp_path, rows):
    buf = io.BytesIO()
    header = {'descr': '<f8', 'fortran_order': False, 'shape': (rows, 5)}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(np.zeros((10, 5)).tobytes())
    path = str(tmp_path / 'rows.npz')
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('bbox_xywh.npy', buf.getvalue())
    out = run_hostile(f'load_human_data({path!r})')
    assert_refused(
        out, path, 'key "bbox_xywh"', f'shape ({rows}, 5)', max_rss_mb=100)
    if rows == 1000:
        assert 'truncated: the header promises shape (1000, 5) float64 ' \
            '(40000 bytes), the file holds 400 bytes of data' in out


def test_human_data_object_member_build_on_class(tmp_path):
    # The ``smpl`` dict member is a pickle: the same refusals apply.
    raw = (
        PROTO2 + op_global('numpy', 'ndarray') + b'N}' + op_str('T') +
        op_global('numpy', 'dtype') + b's\x86b.')
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {
        'descr': '|O',
        'fortran_order': False,
        'shape': ()
    })
    path = str(tmp_path / 'obj.npz')
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('smpl.npy', buf.getvalue() + raw)
    out = run_hostile(f'load_human_data({path!r})')
    assert_refused(out, path, 'key "smpl"', 'BUILD on the class '
                   'numpy.ndarray itself')


# ---------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_forged_statistics_method(tmp_path, monkeypatch):
    from mmengine.logging.history_buffer import HistoryBuffer
    buffer = HistoryBuffer([1., 3.], [1, 1])
    # 'mean' -> HistoryBuffer.max: once loaded by mmengine's own
    # __setstate__, statistics('mean') of every buffer in the process would
    # return the max.
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods',
                        dict(mean=HistoryBuffer.max))
    path = str(tmp_path / 'forged.pth')
    torch.save(
        dict(
            state_dict=dict(w=torch.zeros(2)),
            message_hub=dict(log_scalars={'loss': buffer})), path)
    out = run_hostile(f'safe_load_checkpoint({path!r})')
    assert_refused(
        out, path, "statistics method 'mean' is mapped to "
        'mmengine.logging.history_buffer.HistoryBuffer.max')
    # First add a name to the table, then getattr it ('__subclasses__').
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods',
                        dict(__subclasses__=HistoryBuffer.mean))
    path = str(tmp_path / 'widen.pth')
    torch.save(
        dict(
            meta=dict(
                hub=buffer,
                leak=Reduce(getattr, (HistoryBuffer, '__subclasses__')))),
        path)
    out = run_hostile(f'safe_load_checkpoint({path!r})')
    assert_refused(out, path, "statistics method '__subclasses__'")


def test_checkpoint_getattr_gadget(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer
    path = str(tmp_path / 'gadget.pth')
    torch.save(dict(meta=Reduce(getattr, (HistoryBuffer, '__class__'))), path)
    assert_refused(
        run_hostile(f'safe_load_checkpoint({path!r})'), path,
        "refusing getattr(mmengine.logging.history_buffer."
        "HistoryBuffer, '__class__')")


class _FakeStorage:
    pass


def test_checkpoint_huge_tensor(tmp_path):
    # A 1e12-element tensor whose storage record holds 16 bytes.
    class Pickler(pickle.Pickler):

        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                return ('storage', torch.FloatStorage, '0', 'cpu', 10**12)
            return None

    tensor = Reduce(torch._utils._rebuild_tensor_v2,
                    (_FakeStorage(), 0, (10**12, ),
                     (1, ), False, collections.OrderedDict()))
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(dict(state_dict=dict(w=tensor)))
    path = str(tmp_path / 'huge.pth')
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('huge/data.pkl', buf.getvalue())
        zf.writestr('huge/data/0', b'\0' * 16)
        zf.writestr('huge/version', b'3\n')
        zf.writestr('huge/byteorder', b'little')
    out = run_hostile(f'safe_load_checkpoint({path!r})')
    assert_refused(
        out,
        path, "storage '0' declares 1000000000000 x "
        'FloatStorage (4000000000000 bytes) but its record holds '
        '16 bytes',
        max_rss_mb=100)


def test_checkpoint_truncated_not_a_checkpoint_and_nan(tmp_path):
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(4))), good)
    data = open(good, 'rb').read()
    cut = str(tmp_path / 'cut.pth')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    assert_refused(
        run_hostile(f'safe_load_checkpoint({cut!r})'), cut,
        'truncated checkpoint')
    text = str(tmp_path / 'text.pth')
    with open(text, 'w') as f:
        f.write('hello')
    assert_refused(
        run_hostile(f'safe_load_checkpoint({text!r})'), text,
        "not a checkpoint (starts with b'hell'")
    nan = str(tmp_path / 'nan.pth')
    weight = torch.ones(2, 3)
    weight[1, 2] = float('nan')
    torch.save(
        dict(state_dict=collections.OrderedDict({'head.fc.weight': weight})),
        nan)
    assert_refused(
        run_hostile(f'safe_load_checkpoint({nan!r})'), nan,
        'non-finite tensor values (NaN/Inf) in key '
        '"state_dict.head.fc.weight" (1 of 6)')


def test_runner_paths_use_the_safe_loader(tmp_path):
    """load_from / --resume (FaultTolerantRunner, which tools/test.py
    builds) and init_cfg=Pretrained (mmengine's load_checkpoint) refuse a
    truncated file naming it."""
    good = str(tmp_path / 'good.pth')
    torch.save(
        dict(state_dict=dict(weight=torch.ones(1, 2), bias=torch.ones(1))),
        good)
    data = open(good, 'rb').read()
    cut = str(tmp_path / 'cut.pth')
    with open(cut, 'wb') as f:
        f.write(data[:len(data) // 2])
    pretrained = ('from mmengine.runner import load_checkpoint; '
                  f'load_checkpoint(torch.nn.Linear(2, 1), {cut!r})')
    assert_refused(run_hostile(pretrained), cut, 'truncated checkpoint')
    runner = ('sys.path.insert(0, {tests!r}); '
              'from test_engine.toy_runner import make_runner; '
              'make_runner({work!r}, max_epochs=1, load_from={cut!r}, '
              'resume={resume}).train()')
    for resume in (False, True):
        call = runner.format(
            tests=osp.join(REPO, 'tests'),
            work=str(tmp_path / f'w{resume}'),
            cut=cut,
            resume=resume)
        assert_refused(run_hostile(call), cut, 'truncated checkpoint')


def test_snapshot_detects_a_changed_table(tmp_path):
    """The check itself can fail: a load that rewrites a class is caught."""
    call = ('import scipy.sparse; scipy.sparse.csc_matrix.check_format = '
            'set')
    proc = subprocess.run([sys.executable, '-c',
                           child_script(call)],
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0 and 'CHANGED' in proc.stdout and \
        'UNCHANGED' not in proc.stdout, proc.stdout + proc.stderr
    call = ('from mmengine.logging.history_buffer import HistoryBuffer; '
            'HistoryBuffer._statistics_methods["mean"] = HistoryBuffer.max')
    proc = subprocess.run([sys.executable, '-c',
                           child_script(call)],
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert 'MEAN_FORGED 3' in proc.stdout, proc.stdout + proc.stderr


def test_legitimate_files_still_load(tmp_path, chumpy_classes):
    """The refusals above are not a blanket refusal: the same kinds of file
    written normally load (chumpy pickle, HumanData, checkpoint with a
    HistoryBuffer and numpy values)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from mmhuman_imphmr.body_models.smpl_file import load_smpl_model_file
    from mmhuman_imphmr.datasets.human_data_io import load_human_data
    from mmhuman_imphmr.engine.safe_load import safe_load_checkpoint
    arrays = smpl_arrays()
    c = chumpy_classes
    data = dict(
        arrays,
        v_template=c['add'](
            a=c['Ch'](x=arrays['v_template']), b=c['Ch'](x=np.zeros(3))))
    path = dump(tmp_path / 'SMPL_NEUTRAL.pkl', data)
    np.testing.assert_array_equal(
        load_smpl_model_file(path)['v_template'], arrays['v_template'])
    hd = load_human_data(_human_data(tmp_path / 'hd.npz'))
    assert hd['smpl']['betas'].shape == (10, 10) and hd['__data_len__'] == 10
    ckpt = str(tmp_path / 'ok.pth')
    torch.save(
        dict(
            state_dict=torch.nn.Linear(2, 1).state_dict(),
            message_hub=dict(
                log_scalars=dict(loss=HistoryBuffer([1., 3.], [1, 1])),
                runtime_info=dict(eta=np.float64(2.5), arr=np.arange(3)))),
        ckpt)
    loaded = safe_load_checkpoint(ckpt)
    assert loaded['message_hub']['log_scalars']['loss'].mean() == 2
    assert loaded['state_dict']._metadata is not None
    assert loaded['message_hub']['runtime_info']['eta'] == 2.5
