"""SPIN npz -> HumanData and raw 3DPW pickles -> HumanData."""
import importlib.util
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest

from mmhuman_imphmr.datasets import HumanImageDataset, load_human_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool(name):
    path = osp.join(ROOT, 'tools', 'dataset_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spin_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 5
    spin = dict(
        imgname=np.array([f'train2014/img_{i}.jpg' for i in range(n)]),
        center=rng.uniform(100, 300, (n, 2)),
        scale=rng.uniform(0.5, 2.0, n),
        part=np.concatenate(
            [rng.uniform(0, 400, (n, 24, 2)),
             rng.integers(0, 2, (n, 24, 1))], -1),
        openpose=np.concatenate(
            [rng.uniform(0, 400, (n, 25, 2)),
             rng.uniform(0, 1, (n, 25, 1))], -1),
        S=np.concatenate([rng.normal(size=(n, 24, 3)),
                          np.ones((n, 24, 1))], -1),
        pose=rng.normal(size=(n, 72)),
        shape=rng.normal(size=(n, 10)),
        has_smpl=np.array([1., 1., 0., 1., 0.]),
        gender=np.array(['m', 'f', 'm', 'f', 'm']))
    np.savez(tmp_path / 'coco_2014_train.npz', **spin)
    out = tmp_path / 'spin_coco.npz'
    assert _tool('spin_to_humandata').convert_spin_npz(
        str(tmp_path / 'coco_2014_train.npz'), str(out)) == n
    # mmhuman3d-compatible layout: compressed 'human_data' keypoints.
    raw = load_human_data(str(out))
    assert raw['__keypoints_compressed__'] is True
    assert raw['keypoints2d_mask'].shape == (190, )
    assert raw['keypoints2d'].shape == (n, 49, 3)

    ds = HumanImageDataset(ann_file=str(out), data_prefix=dict(img_path='c'))
    assert len(ds) == n
    for i in range(n):
        info = ds.get_data_info(i)
        side = spin['scale'][i] * 200  # SPIN: scale = bbox side / 200
        cx, cy = spin['center'][i]
        np.testing.assert_allclose(
            info['bbox'][0],
            [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2],
            rtol=1e-5)
        kp = np.concatenate([spin['openpose'][i], spin['part'][i]])
        np.testing.assert_allclose(info['keypoints'][0], kp[:, :2], rtol=1e-6)
        np.testing.assert_allclose(
            info['keypoints_visible'][0], kp[:, 2], rtol=1e-6)
        np.testing.assert_allclose(
            info['keypoints3d'], spin['S'][i], rtol=1e-6)
        np.testing.assert_allclose(
            info['smpl_global_orient'], spin['pose'][i, :3], rtol=1e-6)
        np.testing.assert_allclose(
            info['smpl_body_pose'], spin['pose'][i, 3:], rtol=1e-6)
        np.testing.assert_allclose(
            info['smpl_betas'], spin['shape'][i], rtol=1e-6)
        assert info['has_smpl'] == int(spin['has_smpl'][i])
        assert info['gender'] == {
            'm': 'male',
            'f': 'female'
        }[spin['gender'][i]]
        assert info['img_path'] == osp.join('c', spin['imgname'][i])


def test_spin_integer_genders_survive_conversion(tmp_path):
    # SPIN/PARE code genders as 0 = male, 1 = female; the converter writes
    # them as text ('0'/'1') and the dataset must read them as such, not as
    # its own index (where 0 is neutral).
    n = 4
    spin = dict(
        imgname=np.array([f'{i}.jpg' for i in range(n)]),
        center=np.full((n, 2), 50.0),
        scale=np.ones(n),
        part=np.ones((n, 24, 3)),
        gender=np.array([0, 1, 1, 0]))
    np.savez(tmp_path / 'mpi_inf_3dhp_train.npz', **spin)
    out = tmp_path / 'spin_mpi_inf_3dhp_train.npz'
    _tool('spin_to_humandata').convert_spin_npz(
        str(tmp_path / 'mpi_inf_3dhp_train.npz'), str(out))
    ds = HumanImageDataset(ann_file=str(out))
    assert [ds.get_data_info(i)['gender']
            for i in range(n)] == ['male', 'female', 'female', 'male']


def test_spin_converter_errors(tmp_path):
    np.savez(
        tmp_path / 'x.npz',
        imgname=np.array(['a']),
        center=np.zeros((1, 2)),
        scale=np.ones(1))
    with pytest.raises(KeyError, match='x.npz: key "part" missing'):
        _tool('spin_to_humandata').convert_spin_npz(
            str(tmp_path / 'x.npz'), str(tmp_path / 'y.npz'))


def _rotvec(v):
    return cv2.Rodrigues(np.asarray(v, np.float64))[0]


def test_pw3d_converter(tmp_path):
    """A fake 3DPW sequence: 2 people, 3 frames, one invalid frame each."""
    rng = np.random.default_rng(0)
    frames = 3
    poses = [rng.normal(scale=0.3, size=(frames, 72)) for _ in range(2)]
    poses2d = []
    for _ in range(2):
        p2d = np.zeros((frames, 3, 18))
        p2d[:, :2] = rng.uniform(100, 300, (frames, 2, 18))
        p2d[:, 2] = 0.9
        p2d[:, 2, 5] = 0.0  # an undetected joint does not shape the bbox
        p2d[:, 0, 5] = 10000.0
        poses2d.append(p2d)
    cam_poses = np.tile(np.eye(4), (frames, 1, 1))
    cam_rots = [_rotvec(rng.normal(size=3)) for _ in range(frames)]
    for f in range(frames):
        cam_poses[f, :3, :3] = cam_rots[f]
    seq = dict(
        poses=poses,
        betas=[rng.normal(size=300) for _ in range(2)],
        trans=[np.zeros((frames, 3))] * 2,
        poses2d=poses2d,
        cam_poses=cam_poses,
        campose_valid=[np.array([1, 0, 1]),
                       np.array([1, 1, 0])],
        genders=['m', 'f'],
        img_frame_ids=np.arange(frames),
        sequence='downtown_fake_00')
    folder = tmp_path / 'pw3d' / 'sequenceFiles' / 'test'
    folder.mkdir(parents=True)
    with open(folder / 'downtown_fake_00.pkl', 'wb') as f:
        pickle.dump(seq, f, protocol=2)
    out = tmp_path / 'pw3d_test.npz'
    n = _tool('pw3d_to_humandata').convert_pw3d(
        str(tmp_path / 'pw3d'), str(out))
    assert n == 4  # 2 valid frames per person
    ds = HumanImageDataset(ann_file=str(out))
    expected = [(0, 0), (0, 2), (1, 0), (1, 1)]  # (person, frame)
    for i, (person, frame) in enumerate(expected):
        info = ds.get_data_info(i)
        assert info['gender'] == ('male' if person == 0 else 'female')
        assert info['img_path'] == \
            f'imageFiles/downtown_fake_00/image_{frame:05d}.jpg'
        # Camera-frame global orientation: R_cam @ R_world.
        expected_rot = cam_rots[frame] @ _rotvec(poses[person][frame, :3])
        np.testing.assert_allclose(
            _rotvec(info['smpl_global_orient']), expected_rot, atol=1e-5)
        np.testing.assert_allclose(
            info['smpl_body_pose'], poses[person][frame, 3:], rtol=1e-5)
        np.testing.assert_allclose(
            info['smpl_betas'], seq['betas'][person][:10], rtol=1e-5)
        # bbox: the confident joints' box, squared with side 1.2 max(w, h).
        kps = poses2d[person][frame].T
        good = kps[kps[:, 2] > 0, :2]
        lo, hi = good.min(0), good.max(0)
        side = 1.2 * (hi - lo).max()
        c = (lo + hi) / 2
        np.testing.assert_allclose(
            info['bbox'][0], [*(c - side / 2), *(c + side / 2)], rtol=1e-5)
        assert info['has_smpl'] == 1
        # The OpenPose part of the 49 carries the 2D joints (RHip -> OP 9).
        np.testing.assert_allclose(
            info['keypoints'][0, 9], kps[8, :2], rtol=1e-5)


def test_pw3d_pickle_is_restricted(tmp_path):
    folder = tmp_path / 'sequenceFiles' / 'test'
    folder.mkdir(parents=True)

    class Evil:

        def __reduce__(self):
            return (print, ('owned', ))

    with open(folder / 'evil.pkl', 'wb') as f:
        pickle.dump(dict(poses=Evil()), f)
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        _tool('pw3d_to_humandata').convert_pw3d(
            str(tmp_path), str(tmp_path / 'o.npz'))
