"""The embedded synthetic SMPL-format body model (issue 2)."""
import os
import os.path as osp
import pickle
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmhuman_imphmr.body_models.smpl import SMPL
# yapf: disable
from mmhuman_imphmr.body_models.synthetic import (
    FILES, SMPLX_VERTEX_IDS, VERSION_FILE, ensure_synthetic_body_model,
    generate_synthetic_body_model)
# yapf: enable
from mmhuman_imphmr.body_models.synthetic_mesh import design_joints
from mmhuman_imphmr.utils import constants
from mmhuman_imphmr.utils.geometry import rot6d_to_rotmat


def _load(root, gender='neutral'):
    with open(osp.join(root, FILES[gender]), 'rb') as f:
        return pickle.load(f)


@pytest.fixture(scope='module')
def model(body_model_root):
    return _load(body_model_root)


@pytest.fixture(scope='module')
def smpl(body_model_root):
    return SMPL(body_model_root)


def _run(smpl, body_pose=None, betas=None):
    kw = dict(
        global_orient=torch.zeros(1, 3),
        body_pose=torch.zeros(1, 69) if body_pose is None else body_pose,
        betas=torch.zeros(1, 10) if betas is None else betas)
    with torch.no_grad():
        out = smpl(**kw)
    return {k: v[0].numpy() for k, v in out.items()}


def _pose(**joint_aa):
    """Body pose [1, 69] from ``{smpl_joint_name: axis-angle}``."""
    pose = torch.zeros(1, 69)
    for name, aa in joint_aa.items():
        j = constants.SMPL_JOINT_NAMES.index(name)
        pose[0, 3 * (j - 1):3 * j] = torch.tensor(aa)
    return pose


def test_file_format(body_model_root, model):
    # Keys, dtypes and shapes of an official SMPL .pkl (chumpy-free).
    assert model['v_template'].shape == (6890, 3)
    assert model['v_template'].dtype == np.float64
    assert model['f'].shape == (13776, 3) and model['f'].dtype == np.uint32
    assert model['shapedirs'].shape == (6890, 3, 10)
    assert model['posedirs'].shape == (6890, 3, 207)
    assert model['posedirs'].dtype == np.float64
    assert isinstance(model['J_regressor'], sp.csc_matrix)
    assert model['J_regressor'].shape == (24, 6890)
    assert model['weights'].shape == (6890, 24)
    np.testing.assert_allclose(model['weights'].sum(1), 1.0, atol=1e-12)
    assert model['weights'].min() >= 0
    kt = model['kintree_table']
    assert kt.dtype == np.int64 and kt.shape == (2, 24)
    assert kt[0, 0] == 4294967295
    assert kt[0, 1:].tolist() == constants.SMPL_PARENTS[1:]
    assert kt[1].tolist() == list(range(24))
    assert model['bs_style'] == 'lbs' and model['bs_type'] == 'lrotmin'
    jreg = model['J_regressor'].toarray()
    assert jreg.min() >= 0
    np.testing.assert_allclose(jreg.sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(
        model['J'], jreg @ model['v_template'], atol=1e-12)
    for name, rows in (('joint_regressor_extra', 9), ('joint_regressor_h36m',
                                                      17)):
        reg = np.load(osp.join(body_model_root, FILES[name]))
        assert reg.shape == (rows, 6890) and reg.dtype == np.float64
        assert reg.min() >= 0
        np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-9)
    with np.load(osp.join(body_model_root, FILES['mean_params'])) as mp:
        assert {
            k: mp[k].shape
            for k in mp.files
        } == dict(
            pose=(144, ), shape=(10, ), cam=(3, ))
        rot = rot6d_to_rotmat(torch.from_numpy(mp['pose']).view(24, 6))
    # The mean global orient is a rotation of pi about x (SPIN's file).
    np.testing.assert_allclose(
        rot[0].numpy(), np.diag([1.0, -1.0, -1.0]), atol=1e-6)


def test_mesh_closed_and_outward(model):
    v, f = model['v_template'], model['f'].astype(np.int64)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    keys = directed[:, 0] * 6890 + directed[:, 1]
    rev = directed[:, 1] * 6890 + directed[:, 0]
    # Every directed edge once, its reverse present: each undirected edge
    # is shared by exactly two consistently oriented faces.
    assert len(np.unique(keys)) == len(keys)
    assert np.isin(rev, keys).all()
    assert len(np.unique(f)) == 6890
    # Euler characteristic 2: one closed genus-0 surface.
    assert 6890 - len(keys) // 2 + len(f) == 2
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    volume = np.einsum('ij,ij->i', a, np.cross(b, c)).sum() / 6
    assert 0.04 < volume < 0.1  # m^3; an adult is ~0.06-0.08


def test_rest_pose_is_an_upright_person(smpl):
    out = _run(smpl)
    v, j = out['vertices'], out['smpl_joints']
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.5 < height < 1.9
    names = constants.SMPL_JOINT_NAMES
    jn = {n: j[i] for i, n in enumerate(names)}
    # y up, the person's left at +x, facing +z (nose in front of the head).
    assert jn['head'][1] > jn['neck'][1] > jn['pelvis'][1] > jn['left_knee'][1]
    assert jn['left_wrist'][0] > 0.5 and jn['right_wrist'][0] < -0.5
    assert v[SMPLX_VERTEX_IDS['nose'], 2] > jn['head'][2] + 0.05
    for gender, lo, hi in (('male', 1.72, 1.9), ('female', 1.5, 1.72)):
        hv = _run(
            SMPL(osp.dirname(osp.dirname(smpl.model_file)),
                 gender=gender))['vertices']
        assert lo < hv[:, 1].max() - hv[:, 1].min() < hi, gender


def test_vertex_landmarks(smpl):
    """The smplx vertex joints (fixed ids of the real topology) sit at the
    right anatomical spots, so SPIN's OpenPose face/feet points do too."""
    out = _run(smpl)
    v, j = out['vertices'], out['smpl_joints']
    jn = dict(zip(constants.SMPL_JOINT_NAMES, j))
    p = {name: v[idx] for name, idx in SMPLX_VERTEX_IDS.items()}
    assert p['nose'][2] == pytest.approx(
        v[v[:, 1] > jn['neck'][1], 2].max(), abs=0.01)
    assert abs(p['nose'][0]) < 0.01
    for s, side in (('l', 1), ('r', -1)):
        up = s.upper()
        assert side * p[f'{s}eye'][0] > 0.015
        assert p[f'{s}eye'][1] > p['nose'][1]
        assert side * p[f'{s}ear'][0] > side * p[f'{s}eye'][0]
        ankle = jn['left_ankle' if s == 'l' else 'right_ankle']
        for toe in ('BigToe', 'SmallToe'):
            assert p[f'{up}{toe}'][2] > ankle[2] + 0.1
            assert p[f'{up}{toe}'][1] < ankle[1]
        assert side * p[f'{up}SmallToe'][0] > side * p[f'{up}BigToe'][0]
        assert p[f'{up}Heel'][2] < ankle[2] - 0.01
        wrist = jn['left_wrist' if s == 'l' else 'right_wrist']
        for finger in ('thumb', 'index', 'middle', 'ring', 'pinky'):
            assert side * (p[f'{s}{finger}'][0] - wrist[0]) > 0.08
        # Palm down in the T-pose: the thumb is on the front (+z) side.
        assert p[f'{s}thumb'][2] > p[f'{s}pinky'][2] + 0.05
    # The same points through SPIN's 49 joints.
    joints49 = out['joints']
    np.testing.assert_allclose(
        joints49[constants.JOINT_NAMES.index('OP Nose')], p['nose'], atol=1e-6)


def test_regressed_joints(smpl, model):
    # Seed 0 adds a small shape offset: joints stay within 3 cm of the
    # skeleton the mesh was built around.
    jreg = model['J_regressor'] @ model['v_template']
    assert np.abs(jreg - design_joints()).max() < 0.03
    out = _run(smpl)
    e = dict(zip(constants.JOINT_NAMES, out['joints']))
    h = dict(zip(constants.H36M_JOINT_NAMES, out['joints_h36m']))
    assert e['Top of Head (LSP)'][1] > e['Head (H36M)'][1] > e['Nose'][1] \
        > e['Jaw (H36M)'][1] > e['Neck (LSP)'][1] > e['Thorax (MPII)'][1] \
        > e['Spine (H36M)'][1] > e['Pelvis (MPII)'][1]
    assert e['Left Hip'][0] > 0.05 and e['Right Hip'][0] < -0.05
    assert e['Left Hip'][1] < e['Spine (H36M)'][1]
    assert h['Head'][1] > h['Neck/Nose'][1] > h['Thorax'][1] > h['Spine'][1] \
        > h['Pelvis'][1] > h['Left Knee'][1] > h['Left Ankle'][1]
    assert h['Left Wrist'][0] > h['Left Elbow'][0] > h['Left Shoulder'][0] > 0


def test_pose_moves_joints_and_vertices(smpl, model):
    rest = _run(smpl)
    bent = _run(smpl, body_pose=_pose(left_elbow=(0.0, -1.5, 0.0)))
    names = constants.SMPL_JOINT_NAMES
    moved = np.linalg.norm(bent['smpl_joints'] - rest['smpl_joints'], axis=1)
    for name in ('left_wrist', 'left_hand'):
        assert moved[names.index(name)] > 0.15
    assert moved[names.index('right_wrist')] < 1e-6
    dv = np.linalg.norm(bent['vertices'] - rest['vertices'], axis=1)
    w = model['weights']
    assert dv[w[:, names.index('left_hand')] > 0.9].min() > 0.15
    assert dv[w[:, names.index('right_knee')] > 0.5].max() < 1e-6
    # Smooth skinning: vertices around the elbow blend upper and lower arm.
    near = np.linalg.norm(
        rest['vertices'] - rest['smpl_joints'][18], axis=1) < 0.06
    upper, lower = w[near, 16], w[near, 18]
    assert ((upper > 0.2) & (lower > 0.2)).sum() > 20
    # ... and no weight jumps across a mesh edge.
    f = model['f'].astype(np.int64)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        assert np.abs(w[f[:, a]] - w[f[:, b]]).max() < 0.3  # rigid: 1


def test_betas_change_the_body(smpl):
    rest = _run(smpl)

    def with_beta(k, value=2.0):
        betas = torch.zeros(1, 10)
        betas[0, k] = value
        return _run(smpl, betas=betas)

    def height(o):
        return o['vertices'][:, 1].ptp()

    def waist_girth(o):
        v = o['vertices']
        pelvis = o['smpl_joints'][0]
        band = np.abs(v[:, 1] - o['smpl_joints'][3][1]) < 0.03
        band &= np.abs(v[:, 0]) < 0.25
        return np.linalg.norm((v[band] - pelvis)[:, [0, 2]], axis=1).mean()

    def arm_span(o):
        j = o['smpl_joints']
        return j[20, 0] - j[21, 0]

    tall = with_beta(0)
    assert height(tall) - height(rest) > 0.08
    assert height(with_beta(0, -2.0)) < height(rest) - 0.08
    assert waist_girth(with_beta(1)) > waist_girth(rest) * 1.1
    assert abs(height(with_beta(1)) - height(rest)) < 0.03
    assert arm_span(with_beta(2)) > arm_span(rest) + 0.04
    shoulders = with_beta(3)['smpl_joints']
    assert shoulders[16, 0] - shoulders[17, 0] > \
        rest['smpl_joints'][16, 0] - rest['smpl_joints'][17, 0] + 0.05
    for k in range(10):  # every direction moves the joints and the surface
        out = with_beta(k)
        assert np.abs(out['vertices'] - rest['vertices']).max() > 0.01
        assert np.abs(out['smpl_joints'] - rest['smpl_joints']).max() > 1e-3


def test_posedirs_bulge_at_bent_joints(model):
    v, pd = model['v_template'], model['posedirs']
    joints = model['J']
    # Left elbow (joint 18) bent 90 deg about y: (R - I) has diagonal
    # (cos - 1, 0, cos - 1) = (-1, 0, -1).
    feat = np.zeros(207)
    feat[9 * 17 + 0], feat[9 * 17 + 8] = -1.0, -1.0
    offset = pd @ feat
    mag = np.linalg.norm(offset, axis=1)
    assert 0.004 < mag.max() < 0.03
    assert np.linalg.norm(v[mag.argmax()] - joints[18]) < 0.08
    # Outward: the offset points away from the elbow joint.
    big = mag > 0.5 * mag.max()
    assert (np.einsum('ij,ij->i', offset[big], v[big] - joints[18]) > 0).all()
    assert mag[np.linalg.norm(v - joints[18], axis=1) > 0.2].max() < 1e-4


def test_generation_is_deterministic_fast_and_idempotent(
        tmp_path, body_model_root):
    root = str(tmp_path / 'bm')
    start = time.perf_counter()
    assert ensure_synthetic_body_model(root) == root
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f'generation took {elapsed:.1f} s'
    # Same seed (the fixture uses the default 0): byte-identical files.
    for rel in FILES.values():
        with open(osp.join(root, rel), 'rb') as a, \
                open(osp.join(body_model_root, rel), 'rb') as b:
            assert a.read() == b.read(), rel
    # Idempotent: a complete, current folder is left alone.
    stamp = {
        rel: os.stat(osp.join(root, rel)).st_mtime_ns
        for rel in FILES.values()
    }
    ensure_synthetic_body_model(root)
    assert stamp == {
        rel: os.stat(osp.join(root, rel)).st_mtime_ns
        for rel in FILES.values()
    }
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_synthetic_body_model(root)
    # A stale version marker or a missing file regenerates.
    with open(osp.join(root, VERSION_FILE), 'w') as f:
        f.write('old-generator seed=0\n')
    os.remove(osp.join(root, FILES['mean_params']))
    ensure_synthetic_body_model(root)
    assert osp.isfile(osp.join(root, FILES['mean_params']))
    with open(osp.join(root, VERSION_FILE)) as f:
        assert not f.read().startswith('old-generator')


def test_seed_changes_the_individual(tmp_path, model):
    from mmhuman_imphmr.body_models.synthetic import build_synthetic_body_model
    other = build_synthetic_body_model(seed=1)['neutral']
    assert np.array_equal(other['f'], model['f'])
    diff = np.abs(other['v_template'] - model['v_template']).max()
    assert 1e-3 < diff < 0.1
