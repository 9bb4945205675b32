"""The registered SMPL module on the synthetic SMPL-format body model."""
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from mmhuman_imphmr.body_models import SMPL, MissingBodyModelFileError
from mmhuman_imphmr.body_models.smpl_file import load_smpl_model_file
from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import (EXTRA_JOINT_NAMES, JOINT_NAMES,
                                            SMPLX_VERTEX_JOINT_NAMES)
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat


@pytest.fixture(scope='module')
def smpl(body_model_root):
    return SMPL(body_model_root)


def _random_params(batch, seed=0, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    return dict(
        global_orient=torch.randn(batch, 3, generator=g) * scale,
        body_pose=torch.randn(batch, 69, generator=g) * scale,
        betas=torch.randn(batch, 10, generator=g))


def test_output_shapes_and_registry(smpl, body_model_root):
    out = smpl(**_random_params(2))
    assert {
        k: tuple(v.shape)
        for k, v in out.items()
    } == dict(
        vertices=(2, 6890, 3),
        joints=(2, 49, 3),
        joints_h36m=(2, 17, 3),
        smpl_joints=(2, 24, 3))
    faces = load_smpl_model_file(smpl.model_file)['f']
    assert smpl.faces_tensor.dtype == torch.long
    assert torch.equal(smpl.faces_tensor, torch.from_numpy(faces))
    built = MODELS.build(dict(type='SMPL', model_path=body_model_root))
    assert isinstance(built, SMPL)
    # Licensed data never lands in checkpoints.
    assert len(smpl.state_dict()) == 0


def test_rest_pose_is_the_template(smpl):
    """Zero pose and betas give v_template; betas alone add the linear shape
    blend (SMPL's definition), which checks how data_struct was consumed."""
    data = load_smpl_model_file(smpl.model_file)
    zeros = dict(
        global_orient=torch.zeros(1, 3),
        body_pose=torch.zeros(1, 69),
        betas=torch.zeros(1, 10))
    out = smpl(**zeros)
    np.testing.assert_allclose(
        out['vertices'][0].numpy(), data['v_template'], atol=1e-5)
    betas = torch.linspace(-1, 1, 10)[None]
    out = smpl(**dict(zeros, betas=betas))
    expected = data['v_template'] + data['shapedirs'][:, :, :10] @ \
        betas[0].double().numpy()
    np.testing.assert_allclose(out['vertices'][0].numpy(), expected, atol=1e-4)


def test_axis_angle_and_rotmat_agree(smpl):
    params = _random_params(3, seed=1)
    aa = smpl(**params)
    # roma's conversion, independent of smplx's batch_rodrigues.
    rot = smpl(
        global_orient=axis_angle_to_rotmat(params['global_orient']).view(
            3, 1, 3, 3),
        body_pose=axis_angle_to_rotmat(params['body_pose'].view(3, 23, 3)),
        betas=params['betas'],
        pose2rot=False)
    for key in aa:
        torch.testing.assert_close(aa[key], rot[key], atol=1e-5, rtol=1e-5)


def test_joint_sets(smpl, body_model_root):
    params = _random_params(2, seed=2)
    transl = torch.tensor([[0.1, -0.2, 3.0], [0.0, 0.5, 8.0]])
    out = smpl(**params, transl=transl)
    verts = out['vertices'].double().numpy()
    h36m = np.load(osp.join(body_model_root, 'J_regressor_h36m.npy'))
    extra = np.load(osp.join(body_model_root, 'J_regressor_extra.npy'))
    np.testing.assert_allclose(
        out['joints_h36m'].numpy(),
        np.einsum('jv,bvc->bjc', h36m, verts),
        atol=1e-4)
    joints = out['joints'].numpy()

    def joint(name):
        return joints[:, JOINT_NAMES.index(name)]

    # SPIN's map: 'OP MidHip' is smplx joint 0 (the pelvis), 'OP RHip' joint
    # 2, 'OP Nose' the smplx nose vertex, 'Right Hip' row 0 of
    # J_regressor_extra, 'Head (H36M)' its last row.
    np.testing.assert_allclose(joint('OP MidHip'), out['smpl_joints'][:, 0])
    np.testing.assert_allclose(joint('OP RHip'), out['smpl_joints'][:, 2])
    nose = SMPLX_VERTEX_IDS['smplh']['nose']
    assert SMPLX_VERTEX_JOINT_NAMES[0] == 'nose'
    np.testing.assert_allclose(joint('OP Nose'), verts[:, nose], atol=1e-6)
    for row, name in enumerate(EXTRA_JOINT_NAMES):
        np.testing.assert_allclose(joint(name), extra[row] @ verts, atol=1e-4)
    # transl moves everything rigidly
    untranslated = smpl(**params)
    for key in out:
        torch.testing.assert_close(
            out[key] - transl[:, None], untranslated[key], atol=1e-4, rtol=0)


def test_batch_sizes_and_bad_shapes(smpl):
    params = _random_params(3, seed=3)
    out3 = smpl(**params)
    out1 = smpl(**{k: v[1:2] for k, v in params.items()})
    torch.testing.assert_close(out1['vertices'][0], out3['vertices'][1])
    empty = smpl(**{k: v[:0] for k, v in params.items()})
    assert tuple(empty['vertices'].shape) == (0, 6890, 3)
    assert tuple(empty['joints'].shape) == (0, 49, 3)
    # [B, 23, 3] axis-angle is accepted as [B, 69]
    out = smpl(**dict(params, body_pose=params['body_pose'].view(3, 23, 3)))
    torch.testing.assert_close(out['vertices'], out3['vertices'])
    with pytest.raises(ValueError, match=r'body_pose \[B, 69\]'):
        smpl(**dict(params, body_pose=params['body_pose'][:, :66]))
    with pytest.raises(ValueError, match='one batch size'):
        smpl(**dict(params, betas=params['betas'][:2]))
    with pytest.raises(ValueError, match=r'body_pose \[B, 23, 3, 3\]'):
        smpl(**params, pose2rot=False)
    with pytest.raises(ValueError, match=r'betas \[B, 10\]'):
        smpl(**dict(params, betas=torch.zeros(3, 11)))


def test_gradients_flow(smpl):
    params = {k: v.requires_grad_() for k, v in _random_params(2).items()}
    smpl(**params)['joints'].sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0
               for v in params.values())


def test_three_genders_load(body_model_root):
    for gender in ('neutral', 'male', 'female'):
        model = SMPL(body_model_root, gender=gender)
        assert model.model_file.endswith(f'SMPL_{gender.upper()}.pkl')
        rest = model(
            global_orient=torch.zeros(1, 3),
            body_pose=torch.zeros(1, 69),
            betas=torch.zeros(1, 10))['vertices'][0]
        template = load_smpl_model_file(model.model_file)['v_template']
        np.testing.assert_allclose(rest.numpy(), template, atol=1e-5)


def test_pkl_and_npz_give_identical_outputs(smpl, body_model_root, tmp_path):
    """The same arrays saved as .npz (dense J_regressor) load to the same
    model as the .pkl; the regressors are shared from the same root."""
    root = tmp_path / 'npz_tree'
    (root / 'smpl').mkdir(parents=True)
    data = load_smpl_model_file(smpl.model_file)
    data['J_regressor'] = data['J_regressor'].toarray() if hasattr(
        data['J_regressor'], 'toarray') else data['J_regressor']
    np.savez(str(root / 'smpl' / 'SMPL_NEUTRAL.npz'), **data)
    for name in ('J_regressor_extra.npy', 'J_regressor_h36m.npy'):
        shutil.copy(osp.join(body_model_root, name), str(root / name))
    model = SMPL(str(root))
    assert model.model_file.endswith('.npz')
    params = _random_params(2, seed=4)
    a, b = smpl(**params), model(**params)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_missing_regressor_message(body_model_root, tmp_path):
    root = tmp_path / 'no_regressors'
    shutil.copytree(osp.join(body_model_root, 'smpl'), str(root / 'smpl'))
    with pytest.raises(MissingBodyModelFileError) as info:
        SMPL(str(root))
    msg = str(info.value)
    assert 'J_regressor_extra.npy' in msg and 'SMPL_NEUTRAL.pkl' in msg
    assert 'python tools/generate_body_model.py' in msg
    with pytest.raises(MissingBodyModelFileError, match='SMPL_FEMALE'):
        SMPL(str(tmp_path / 'nothing'), gender='female')
