"""Safe SMPL file loading: chumpy pickles without chumpy, refusal of unsafe
pickles, and error messages for missing / malformed files."""
import os
import os.path as osp
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

# yapf: disable
from mmhuman_imphmr.body_models.smpl_file import (BODY_MODEL_TREE,
                                                  BodyModelFileError,
                                                  InvalidBodyModelFileError,
                                                  MissingBodyModelFileError,
                                                  body_model_files,
                                                  body_model_root,
                                                  load_joint_regressor,
                                                  load_smpl_mean_params,
                                                  load_smpl_model_file,
                                                  safe_load_pickle,
                                                  smpl_model_path)

# yapf: enable

V = 30  # the loader does not depend on the vertex count


def _arrays(seed=0, num_verts=V):
    """Random arrays with the shapes of an SMPL model file."""
    rng = np.random.default_rng(seed)
    weights = rng.random((num_verts, 24))
    kintree = np.array([[2**32 - 1] + list(range(23)),
                        list(range(24))],
                       dtype=np.int64)
    return dict(
        v_template=rng.standard_normal((num_verts, 3)),
        f=rng.integers(0, num_verts, (40, 3)).astype(np.uint32),
        shapedirs=rng.standard_normal((num_verts, 3, 10)),
        posedirs=rng.standard_normal((num_verts, 3, 207)),
        J_regressor=scipy.sparse.random(
            24, num_verts, density=0.2, format='csc', random_state=seed),
        weights=weights / weights.sum(1, keepdims=True),
        kintree_table=kintree)


class _FakeCh:
    """Mimics chumpy.ch.Ch pickling: __getstate__ returns its __dict__ with
    the value under ``x`` and a ``set`` (chumpy's ``_dirty_vars``)."""

    def __init__(self, **terms):
        self.__dict__.update(terms)
        self._dirty_vars = set()
        self._itr = None
        self._make_dense = False
        self._make_sparse = False

    def __getstate__(self):
        return dict(self.__dict__)


@pytest.fixture
def fake_chumpy(monkeypatch):
    """Registers throwaway ``chumpy.*`` modules while pickling; the caller
    removes them (``undo``) before loading."""
    classes = {}
    for module, names in (('chumpy.ch', ['Ch']),
                          ('chumpy.reordering', ['Reshape']), ('chumpy.linalg',
                                                               ['Inv'])):
        mod = types.ModuleType(module)
        for name in names:
            cls = type(name, (_FakeCh, ), {'__module__': module})
            setattr(mod, name, cls)
            classes[name] = cls
        monkeypatch.setitem(sys.modules, module, mod)
    monkeypatch.setitem(sys.modules, 'chumpy', types.ModuleType('chumpy'))
    return classes, monkeypatch


def _dump_official_like(path, arrays, classes, monkeypatch):
    """Write ``arrays`` the way official SMPL files are: protocol 2, chumpy
    Ch for v_template/shapedirs/posedirs/weights, sparse J_regressor."""
    Ch = classes['Ch']
    data = dict(arrays)
    for key in ('v_template', 'shapedirs', 'posedirs', 'weights'):
        data[key] = Ch(x=arrays[key])
    data['bs_style'] = 'lbs'
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=2)
    monkeypatch.undo()  # chumpy is gone again
    assert 'chumpy' not in sys.modules


def test_chumpy_pickle_loads_without_chumpy(tmp_path, fake_chumpy):
    classes, monkeypatch = fake_chumpy
    arrays = _arrays()
    path = str(tmp_path / 'SMPL_NEUTRAL.pkl')
    _dump_official_like(path, arrays, classes, monkeypatch)
    raw = open(path, 'rb').read()
    assert b'chumpy.ch' in raw and b'__builtin__' in raw  # what we test
    with pytest.raises(ModuleNotFoundError):
        pickle.load(open(path, 'rb'))  # a plain load needs chumpy
    out = load_smpl_model_file(path)
    assert 'chumpy' not in sys.modules
    for key in ('v_template', 'shapedirs', 'posedirs', 'weights'):
        assert out[key].dtype == np.float64
        np.testing.assert_array_equal(out[key], arrays[key])
    assert scipy.sparse.issparse(out['J_regressor'])
    np.testing.assert_array_equal(out['J_regressor'].toarray(),
                                  arrays['J_regressor'].toarray())
    np.testing.assert_array_equal(out['f'], arrays['f'].astype(np.int64))
    np.testing.assert_array_equal(out['kintree_table'],
                                  arrays['kintree_table'])
    assert set(out) == {
        'v_template', 'f', 'shapedirs', 'posedirs', 'J_regressor', 'weights',
        'kintree_table'
    }


def test_derived_chumpy_ops(tmp_path, fake_chumpy):
    classes, monkeypatch = fake_chumpy
    arrays = _arrays()
    data = dict(arrays)
    # posedirs stored as Reshape(Ch(flat), newshape): evaluates to the same.
    data['posedirs'] = classes['Reshape'](
        a=classes['Ch'](x=arrays['posedirs'].ravel()), newshape=(V, 3, 207))
    data['weights'] = classes['Inv'](a=classes['Ch'](x=arrays['weights']))
    path = str(tmp_path / 'derived.pkl')
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=2)
    monkeypatch.undo()
    with pytest.raises(
            InvalidBodyModelFileError,
            match=r'"weights".*chumpy\.linalg\.Inv'):
        load_smpl_model_file(path)


def test_derived_reshape_evaluates(tmp_path, fake_chumpy):
    classes, monkeypatch = fake_chumpy
    arrays = _arrays()
    data = dict(arrays)
    data['posedirs'] = classes['Reshape'](
        a=classes['Ch'](x=arrays['posedirs'].ravel()), newshape=(V, 3, 207))
    path = str(tmp_path / 'reshape.pkl')
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=2)
    monkeypatch.undo()
    out = load_smpl_model_file(path)
    np.testing.assert_array_equal(out['posedirs'], arrays['posedirs'])


class _Exploit:

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg, )


@pytest.mark.parametrize('func', ['os.system', 'builtins.eval'])
def test_unsafe_pickle_is_refused(tmp_path, func):
    marker = tmp_path / 'pwned'
    if func == 'os.system':
        payload = _Exploit(os.system, f'touch {marker}')
        name = 'system'
    else:
        payload = _Exploit(eval, f'open({str(marker)!r}, "w").close()')
        name = 'eval'
    path = str(tmp_path / 'SMPL_NEUTRAL.pkl')
    with open(path, 'wb') as f:
        pickle.dump(dict(_arrays(), v_template=payload), f, protocol=2)
    with pytest.raises(pickle.UnpicklingError) as info:
        load_smpl_model_file(path)
    assert name in str(info.value) and path in str(info.value)
    assert not marker.exists()  # nothing was executed


def test_allow_list_spellings(tmp_path):
    """Protocol-0 GLOBAL opcodes (``c<module>\\n<name>\\n``) resolve exactly
    the allow-listed names, including the old scipy / numpy module paths of
    Python-2-era files, and refuse anything else by its full name."""
    allowed = [('numpy.core.multiarray', '_reconstruct'),
               ('numpy._core.multiarray', '_reconstruct'),
               ('numpy.core.multiarray', 'scalar'), ('numpy', 'ndarray'),
               ('numpy', 'dtype'), ('scipy.sparse.csc', 'csc_matrix'),
               ('scipy.sparse._csc', 'csc_matrix'),
               ('scipy.sparse.csr', 'csr_matrix'), ('__builtin__', 'set'),
               ('_codecs', 'encode'), ('chumpy.ch', 'Ch'),
               ('chumpy.ch_ops', 'add')]
    path = str(tmp_path / 'global.pkl')
    for module, name in allowed:
        with open(path, 'wb') as f:
            f.write(f'c{module}\n{name}\n.'.encode())
        assert safe_load_pickle(path) is not None
    for module, name in [('os', 'system'), ('subprocess', 'Popen'),
                         ('builtins', 'eval'), ('numpy', 'load'),
                         ('scipy.sparse', 'load_npz')]:
        with open(path, 'wb') as f:
            f.write(f'c{module}\n{name}\n.'.encode())
        with pytest.raises(pickle.UnpicklingError) as info:
            safe_load_pickle(path)
        assert f'"{module}.{name}"' in str(info.value)
        assert path in str(info.value)


def test_npz_model_and_errors(tmp_path):
    arrays = _arrays()
    arrays['J_regressor'] = arrays['J_regressor'].toarray()
    path = str(tmp_path / 'SMPL_MALE.npz')
    np.savez(path, **arrays)
    out = load_smpl_model_file(path)
    np.testing.assert_array_equal(out['J_regressor'], arrays['J_regressor'])

    bad = dict(arrays)
    del bad['posedirs']
    np.savez(str(tmp_path / 'missing_key.npz'), **bad)
    with pytest.raises(InvalidBodyModelFileError, match='posedirs') as info:
        load_smpl_model_file(str(tmp_path / 'missing_key.npz'))
    assert 'missing_key.npz' in str(info.value)

    bad = dict(arrays, shapedirs=arrays['shapedirs'][:, :, :5])
    np.savez(str(tmp_path / 'shape.npz'), **bad)
    with pytest.raises(ValueError) as info:
        load_smpl_model_file(str(tmp_path / 'shape.npz'))
    # found vs expected, and the key
    msg = str(info.value)
    assert '"shapedirs"' in msg and f'({V}, 3, 5)' in msg
    assert f'(V={V}, 3, >=10)' in msg

    bad = dict(arrays, f=arrays['f'].astype(np.float32))
    np.savez(str(tmp_path / 'faces.npz'), **bad)
    with pytest.raises(InvalidBodyModelFileError, match='"f".*integer'):
        load_smpl_model_file(str(tmp_path / 'faces.npz'))


def test_missing_files_print_the_tree(tmp_path):
    root = str(tmp_path / 'body_models')
    with pytest.raises(MissingBodyModelFileError) as info:
        smpl_model_path(root, 'female')
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, BodyModelFileError)
    assert osp.join(root, 'smpl', 'SMPL_FEMALE.pkl') in msg
    assert BODY_MODEL_TREE.format(root=root) in msg
    for text in ('basicModel_f_lbs_10_207_0_v1.0.0.pkl', 'SPIN',
                 'python tools/generate_body_model.py'):
        assert text in msg
    with pytest.raises(ValueError, match='gender'):
        smpl_model_path(root, 'child')
    with pytest.raises(MissingBodyModelFileError, match='J_regressor_h36m'):
        load_joint_regressor(osp.join(root, 'J_regressor_h36m.npy'), 17, V)
    with pytest.raises(MissingBodyModelFileError, match='mean parameters'):
        load_smpl_mean_params(osp.join(root, 'smpl_mean_params.npz'))


def test_layout_resolution(tmp_path):
    root = tmp_path / 'bm'
    (root / 'smpl').mkdir(parents=True)
    np.savez(str(root / 'smpl' / 'SMPL_NEUTRAL.npz'), x=np.zeros(1))
    model = str(root / 'smpl' / 'SMPL_NEUTRAL.npz')
    # The root, its smpl/ folder and the file itself give the same tree.
    for given in (str(root), str(root / 'smpl'), model):
        assert body_model_root(given) == str(root)
        files = body_model_files(given, 'neutral')
        assert files['smpl'] == model
        assert files['J_regressor_h36m'] == str(root / 'J_regressor_h36m.npy')
    # .pkl is preferred when both exist
    (root / 'smpl' / 'SMPL_NEUTRAL.pkl').write_bytes(b'')
    assert smpl_model_path(str(root)).endswith('SMPL_NEUTRAL.pkl')


def test_regressor_and_mean_params(tmp_path):
    reg = np.random.default_rng(0).random((9, V))
    np.save(str(tmp_path / 'J_regressor_extra.npy'), reg)
    out = load_joint_regressor(str(tmp_path / 'J_regressor_extra.npy'), 9, V)
    assert out.dtype == np.float32 and out.shape == (9, V)
    with pytest.raises(
            InvalidBodyModelFileError,
            match=r'\(9, 30\), expected \(17, 30\)'):
        load_joint_regressor(str(tmp_path / 'J_regressor_extra.npy'), 17, V)
    np.save(str(tmp_path / 'obj.npy'), np.array([None, 1], dtype=object))
    with pytest.raises(InvalidBodyModelFileError, match='obj.npy'):
        load_joint_regressor(str(tmp_path / 'obj.npy'), 1, 2)

    path = str(tmp_path / 'smpl_mean_params.npz')
    np.savez(path, pose=np.arange(144.), shape=np.ones(10), cam=[0.9, 0, 0])
    params = load_smpl_mean_params(path)
    assert {
        k: v.shape
        for k, v in params.items()
    } == dict(
        pose=(144, ), shape=(10, ), cam=(3, ))
    np.testing.assert_allclose(params['pose'], np.arange(144.))
    np.savez(path, pose=np.zeros(72), shape=np.ones(10), cam=np.ones(3))
    with pytest.raises(
            InvalidBodyModelFileError,
            match=r'"pose" has shape \(72,\), expected \(144,\)'):
        load_smpl_mean_params(path)
    np.savez(path, pose=np.zeros(144), shape=np.ones(10))
    with pytest.raises(InvalidBodyModelFileError, match='"cam"'):
        load_smpl_mean_params(path)
