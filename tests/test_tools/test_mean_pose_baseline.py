"""tools/analysis/mean_pose_baseline.py: rotation mean and known answers."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets.human_data_io import save_human_data
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat

ROOT = osp.join(osp.dirname(__file__), '..', '..')
spec = importlib.util.spec_from_file_location(
    'mean_pose_baseline',
    osp.join(ROOT, 'tools', 'analysis', 'mean_pose_baseline.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_rotation_mean_known_answers():
    base = axis_angle_to_rotmat(torch.tensor([[0.3, -1.1, 0.4]]))[0]
    # Turns by +theta and -theta about one axis, applied to the same base,
    # average (chordal L2) to the base itself, by symmetry.
    turn = axis_angle_to_rotmat(
        torch.tensor([[0.0, 0.0, 0.7], [0.0, 0.0, -0.7]]))
    rots = (base @ turn)[:, None]  # (2, 1, 3, 3)
    torch.testing.assert_close(
        tool.rotation_mean(rots)[0], base, atol=1e-5, rtol=0)
    # The mean of copies of one rotation is that rotation.
    same = base.expand(5, 1, 3, 3)
    torch.testing.assert_close(
        tool.rotation_mean(same)[0], base, atol=1e-5, rtol=0)


def _write(path, body_pose, betas):
    n = len(body_pose)
    rng = np.random.default_rng(1)
    save_human_data(
        path,
        dict(
            image_path=np.array([f'{i}.jpg' for i in range(n)]),
            smpl=dict(
                global_orient=rng.uniform(-1, 1, (n, 3)).astype(np.float32),
                body_pose=body_pose.astype(np.float32),
                betas=betas.astype(np.float32))))


def test_train_mean_pose_is_exact_when_every_pose_is_equal(
        tmp_path, body_model_root):
    # All train and test bodies share one pose and zero betas: the train mean
    # pose with zero betas *is* the test body, so every error is 0.
    pose = np.random.default_rng(0).uniform(-0.4, 0.4, 69)
    train = osp.join(str(tmp_path), 'train.npz')
    test = osp.join(str(tmp_path), 'test.npz')
    _write(train, np.tile(pose, (6, 1)), np.zeros((6, 10)))
    _write(test, np.tile(pose, (3, 1)), np.zeros((3, 10)))
    results = tool.evaluate(train, test, body_model_root)
    for key in ('mpjpe', 'pa_mpjpe', 'pve'):
        assert results['train_mean_pose'][key] == pytest.approx(0, abs=1e-3)
    # The mean parameters are a different pose: clearly non-zero errors.
    assert results['smpl_mean_params']['pa_mpjpe'] > 10


def test_missing_smpl_key_is_named(tmp_path, body_model_root):
    path = osp.join(str(tmp_path), 'bad.npz')
    save_human_data(path, dict(image_path=np.array(['0.jpg'])))
    with pytest.raises(KeyError, match='bad.npz.*smpl'):
        tool.evaluate(path, path, body_model_root)
