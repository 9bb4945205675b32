"""The embedded synthetic dataset: determinism, label consistency, loading."""
import os
import os.path as osp

import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets.human_data_io import load_human_data
from mmhuman_imphmr.datasets.synthetic import (ensure_synthetic_dataset,
                                               generate_synthetic_dataset)
from mmhuman_imphmr.utils.constants import (GT_JOINT_NAMES, NUM_JOINTS,
                                            NUM_OPENPOSE_JOINTS)

SIZE = 64
PELVIS49 = NUM_OPENPOSE_JOINTS + GT_JOINT_NAMES.index('Pelvis (MPII)')


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory, body_model_root):
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(
        out,
        num_train=12,
        num_val=4,
        image_size=SIZE,
        seed=3,
        body_model_root=body_model_root,
        batch_size=5)
    return out


def _files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs)


def test_layout_and_schema(synthetic_root):
    files = _files(synthetic_root)
    assert 'synthetic_train.npz' in files and 'manifest.json' in files
    assert sum(f.startswith('images/train/') for f in files) == 12
    data = load_human_data(osp.join(synthetic_root, 'synthetic_train.npz'))
    assert data['bbox_xywh'].shape == (12, 5)
    assert data['keypoints2d'].shape == (12, NUM_JOINTS, 3)
    assert data['keypoints3d'].shape == (12, 24, 4)
    assert data['smpl']['body_pose'].shape == (12, 23, 3)
    assert data['smpl']['global_orient'].shape == (12, 3)
    assert data['smpl']['betas'].shape == (12, 10)
    assert list(data['meta']['gender']) == ['neutral'] * 12
    assert data['keypoints2d_convention'] == 'smpl_49'
    # Varied views: the azimuths of 12 draws are not all alike.
    assert np.ptp(data['smpl']['global_orient'], axis=0).max() > 1.0


def test_deterministic_by_seed(synthetic_root, body_model_root, tmp_path):
    # Same arguments: same bytes and arrays.
    again = str(tmp_path / 'again')
    generate_synthetic_dataset(
        again,
        num_train=12,
        num_val=4,
        image_size=SIZE,
        seed=3,
        body_model_root=body_model_root,
        batch_size=5)
    for rel in _files(synthetic_root):
        if rel.endswith('.jpg') or rel == 'manifest.json':
            with open(osp.join(synthetic_root, rel), 'rb') as a, \
                    open(osp.join(again, rel), 'rb') as b:
                assert a.read() == b.read(), rel
    for split in ('train', 'val'):
        a = load_human_data(osp.join(synthetic_root, f'synthetic_{split}.npz'))
        b = load_human_data(osp.join(again, f'synthetic_{split}.npz'))
        for key in ('bbox_xywh', 'keypoints2d', 'keypoints3d'):
            np.testing.assert_array_equal(a[key], b[key])
        for key in a['smpl']:
            np.testing.assert_array_equal(a['smpl'][key], b['smpl'][key])
    # Another batch size draws the same bodies (one generator per image);
    # only float rounding of the batched body model may differ.
    rebatched = str(tmp_path / 'rebatched')
    generate_synthetic_dataset(
        rebatched,
        num_train=12,
        num_val=0,
        image_size=SIZE,
        seed=3,
        body_model_root=body_model_root,
        batch_size=8)
    a = load_human_data(osp.join(synthetic_root, 'synthetic_train.npz'))
    b = load_human_data(osp.join(rebatched, 'synthetic_train.npz'))
    for key in ('bbox_xywh', 'keypoints2d', 'keypoints3d'):
        np.testing.assert_allclose(a[key], b[key], atol=1e-3)
    other = str(tmp_path / 'other')
    generate_synthetic_dataset(
        other,
        num_train=2,
        num_val=0,
        image_size=SIZE,
        seed=4,
        body_model_root=body_model_root)
    c = load_human_data(osp.join(other, 'synthetic_train.npz'))
    a = load_human_data(osp.join(synthetic_root, 'synthetic_train.npz'))
    assert not np.allclose(c['smpl']['body_pose'], a['smpl']['body_pose'][:2])


def test_worker_count_does_not_change_output(body_model_root, tmp_path):
    # Batches go to forked workers, but every image has its own generator
    # and every batch the same single-threaded arithmetic, so one worker and
    # two workers must write identical images and annotation arrays (the
    # .npz bytes themselves hold zip timestamps).
    roots = []
    for workers in (1, 2):
        root = str(tmp_path / f'w{workers}')
        generate_synthetic_dataset(
            root,
            num_train=6,
            num_val=2,
            image_size=32,
            seed=5,
            body_model_root=body_model_root,
            batch_size=2,
            workers=workers)
        roots.append(root)
    files = _files(roots[0])
    assert files == _files(roots[1]) and len(files) == 8 + 3
    for rel in files:
        if rel.endswith('.npz'):
            a, b = (load_human_data(osp.join(r, rel)) for r in roots)
            for key in ('image_path', 'bbox_xywh', 'keypoints2d',
                        'keypoints3d'):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            for key in a['smpl']:
                np.testing.assert_array_equal(
                    a['smpl'][key], b['smpl'][key], err_msg=key)
            continue
        with open(osp.join(roots[0], rel), 'rb') as a, \
                open(osp.join(roots[1], rel), 'rb') as b:
            assert a.read() == b.read(), rel


def test_labels_reproduce_from_smpl_params(synthetic_root, body_model_root):
    # The stored SMPL parameters (+ transl) through the body model give the
    # stored 3D joints, and their pinhole projection the stored 2D ones.
    from mmhuman_imphmr.body_models import SMPL
    data = load_human_data(osp.join(synthetic_root, 'synthetic_train.npz'))
    smpl = SMPL(model_path=body_model_root, gender='neutral')
    p = {
        k: torch.from_numpy(v.reshape(len(v), -1))
        for k, v in data['smpl'].items()
    }
    with torch.no_grad():
        joints = smpl(
            p['global_orient'], p['body_pose'], p['betas'],
            transl=p['transl'])['joints'].numpy()
    np.testing.assert_allclose(
        data['keypoints3d'][..., :3],
        joints[:, NUM_OPENPOSE_JOINTS:],
        atol=1e-4)
    focal = data['misc']['focal_length']
    uv = focal * joints[..., :2] / joints[..., 2:3] + (SIZE / 2 - 0.5)
    np.testing.assert_allclose(data['keypoints2d'][..., :2], uv, atol=1e-2)


def test_pelvis_keypoint_lands_on_the_rendered_person(body_model_root):
    # Render a batch with the generator's own internals to get the masks:
    # the projected pelvis must fall on a pixel the body covers.
    from mmhuman_imphmr.datasets.synthetic.generator import (_labels,
                                                             _Renderer,
                                                             _sample_params)
    focal = 1.75 * SIZE
    renderer = _Renderer(body_model_root, SIZE, focal)
    params = [_sample_params(7, 'train', i, SIZE, focal) for i in range(8)]
    rendered = renderer(params)
    labels = _labels(rendered, SIZE, focal)
    hits = 0
    for mask, kp in zip(rendered['mask'], labels['keypoints2d']):
        x, y, vis = kp[PELVIS49]
        if vis:
            hits += 1
            assert mask[int(round(y)), int(round(x))] == 1
        # The person is in the picture and not everywhere.
        assert 0.02 < mask.mean() < 0.8
    assert hits >= 6
    # The box (1.2x the visible body, square) contains the whole mask.
    for mask, (bx, by, bw, bh, _) in zip(rendered['mask'],
                                         labels['bbox_xywh']):
        ys, xs = np.nonzero(mask)
        assert xs.min() >= bx - 1 and xs.max() <= bx + bw + 1
        assert ys.min() >= by - 1 and ys.max() <= by + bh + 1


def test_ensure_skips_existing_and_dataset_loads(synthetic_root,
                                                 body_model_root):
    from mmhuman_imphmr.datasets import SyntheticHumanDataset
    npz = osp.join(synthetic_root, 'synthetic_train.npz')
    mtime = os.stat(npz).st_mtime_ns
    cfg = dict(
        num_train=12,
        num_val=4,
        image_size=SIZE,
        seed=3,
        body_model_root=body_model_root)
    ensure_synthetic_dataset(synthetic_root, **cfg)
    assert os.stat(npz).st_mtime_ns == mtime  # not regenerated

    pipeline = [
        dict(type='mmpose.LoadImage'),
        dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
        dict(type='RandomFlipSMPL', prob=0.5),
        dict(
            type='mmpose.RandomBBoxTransform',
            shift_prob=0.0,
            scale_factor=(0.75, 1.25),
            rotate_factor=60.0,
            rotate_prob=0.4),
        dict(type='RotateSMPL'),
        dict(type='mmpose.TopdownAffine', input_size=(48, 48)),
        dict(type='RandomPixelNoise'),
        dict(type='PackMeshInputs'),
    ]
    from mmengine.registry import init_default_scope
    init_default_scope('mmhuman_imphmr')
    dataset = SyntheticHumanDataset(
        data_root=synthetic_root,
        split='train',
        generate_cfg=cfg,
        pipeline=pipeline)
    assert len(dataset) == 12
    info = dataset.get_data_info(0)
    data = load_human_data(npz)
    np.testing.assert_allclose(info['keypoints3d'], data['keypoints3d'][0])
    np.testing.assert_allclose(info['smpl_body_pose'],
                               data['smpl']['body_pose'][0].reshape(69))
    assert info['gender'] == 'neutral' and info['has_smpl'] == 1
    # Exact SMPL and 3D joints: the synthetic set declares 'gt3d' itself.
    assert dataset.label_type == info['label_type'] == 'gt3d'
    item = dataset[0]
    assert item['inputs'].shape == (3, 48, 48)
    sample = item['data_samples']
    assert sample.metainfo['label_type'] == 'gt3d'
    assert sample.gt_keypoints2d.shape == (49, 3)
    # Most joints of a person inside the crop are visible in it.
    assert sample.gt_keypoints2d[:, 2].sum() >= 25
