"""In-the-wild (pseudo-SMPL) samples of the embedded synthetic dataset."""
import importlib.util
import json
import math
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets.human_data_io import load_human_data, npz_keys
from mmhuman_imphmr.datasets.synthetic import (ensure_synthetic_dataset,
                                               generate_synthetic_dataset,
                                               global_orient_from_angles)
from mmhuman_imphmr.datasets.synthetic.generator import (_sample_params,
                                                         _sample_wild)
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           rotmat_to_axis_angle)

SIZE, NUM_TRAIN, NUM_VAL, SEED = 32, 12, 2, 3
NOISE = dict(
    pseudo_orient_noise=0.1, pseudo_pose_noise=0.15, pseudo_betas_noise=0.5)
WILD = dict(wild_fraction=0.5, **NOISE)
TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
    'generate_synthetic_dataset.py')


def _generate(root, body_model_root, workers=1, **kwargs):
    args = dict(
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        image_size=SIZE,
        seed=SEED,
        body_model_root=body_model_root,
        batch_size=5,
        workers=workers)
    args.update(kwargs)
    return generate_synthetic_dataset(str(root), **args)


@pytest.fixture(scope='module')
def base_root(tmp_path_factory, body_model_root):
    """Generated without any of the new arguments."""
    root = tmp_path_factory.mktemp('synthetic_base')
    _generate(root, body_model_root)
    return str(root)


@pytest.fixture(scope='module')
def wild_root(tmp_path_factory, body_model_root):
    root = tmp_path_factory.mktemp('synthetic_wild')
    files = _generate(root, body_model_root, **WILD)
    assert files['train_wild'] == osp.join(
        str(root), 'synthetic_train_wild.npz')
    return str(root)


def _load(root, name):
    return load_human_data(osp.join(root, f'{name}.npz'))


def _indices(data):
    return [
        int(osp.splitext(osp.basename(str(p)))[0]) for p in data['image_path']
    ]


def _files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs if '.humandata_cache' not in d)


def _assert_same_arrays(a, b, rows_a=slice(None), rows_b=slice(None)):
    """All arrays (and smpl entries) of two HumanData dicts, row-selected."""
    assert sorted(a) == sorted(b)
    for key in a:
        if key == 'smpl':
            for k in a['smpl']:
                np.testing.assert_array_equal(
                    a['smpl'][k][rows_a], b['smpl'][k][rows_b], err_msg=k)
        elif key in ('image_path', 'bbox_xywh', 'keypoints2d', 'keypoints3d'):
            np.testing.assert_array_equal(
                a[key][rows_a], b[key][rows_b], err_msg=key)


def test_wild_file_is_eft_like(wild_root):
    keys = npz_keys(osp.join(wild_root, 'synthetic_train_wild.npz'))
    assert 'keypoints3d' not in keys and 'keypoints3d_mask' not in keys
    assert 'keypoints3d' in npz_keys(
        osp.join(wild_root, 'synthetic_train.npz'))
    wild = _load(wild_root, 'synthetic_train_wild')
    num = len(wild['image_path'])
    assert wild['keypoints2d'].shape == (num, 49, 3)
    assert wild['bbox_xywh'].shape == (num, 5)
    assert wild['smpl']['body_pose'].shape == (num, 23, 3)
    assert wild['smpl']['betas'].shape == (num, 10)
    assert list(wild['meta']['gender']) == ['neutral'] * num
    assert all(str(p).startswith('images/train/') for p in wild['image_path'])
    for key, value in WILD.items():
        assert wild['misc'][key] == value
    with open(osp.join(wild_root, 'manifest.json')) as f:
        manifest = json.load(f)
    for key, value in WILD.items():
        assert manifest[key] == value
    # Validation never has wild samples nor wild settings.
    val = _load(wild_root, 'synthetic_val')
    assert len(val['image_path']) == NUM_VAL and 'wild_fraction' not in \
        val['misc']


def test_studio_and_wild_partition_the_training_images(wild_root):
    studio = _indices(_load(wild_root, 'synthetic_train'))
    wild = _indices(_load(wild_root, 'synthetic_train_wild'))
    assert studio and wild  # this seed has both kinds
    assert sorted(studio + wild) == list(range(NUM_TRAIN))
    assert studio == sorted(studio) and wild == sorted(wild)
    # The per-image draw decides (and nothing else).
    expected = [
        i for i in range(NUM_TRAIN) if _sample_wild(SEED, 'train', i, WILD)[0]
    ]
    assert wild == expected
    files = _files(wild_root)
    assert sum(f.startswith('images/train/') for f in files) == NUM_TRAIN


def test_images_and_exact_labels_as_without_wild(base_root, wild_root):
    # Images are rendered from the exact ground truth: same bytes.
    base_files = _files(base_root)
    assert _files(wild_root) == sorted(base_files +
                                       ['synthetic_train_wild.npz'])
    for rel in base_files:
        if rel.endswith('.jpg'):
            with open(osp.join(base_root, rel), 'rb') as a, \
                    open(osp.join(wild_root, rel), 'rb') as b:
                assert a.read() == b.read(), rel
    base = _load(base_root, 'synthetic_train')
    studio = _load(wild_root, 'synthetic_train')
    wild = _load(wild_root, 'synthetic_train_wild')
    s_idx, w_idx = _indices(studio), _indices(wild)
    # Studio rows: those of the run without the feature.
    _assert_same_arrays(studio, base, rows_b=s_idx)
    # Wild rows: exact 2D keypoints, boxes and translation, other SMPL.
    for key in ('image_path', 'bbox_xywh', 'keypoints2d'):
        np.testing.assert_array_equal(wild[key], base[key][w_idx])
    np.testing.assert_array_equal(wild['smpl']['transl'],
                                  base['smpl']['transl'][w_idx])
    for key in ('global_orient', 'body_pose', 'betas'):
        assert not np.allclose(wild['smpl'][key], base['smpl'][key][w_idx])
    _assert_same_arrays(
        _load(wild_root, 'synthetic_val'), _load(base_root, 'synthetic_val'))


def _relative_axis_angle(noisy, exact):
    """Axis-angle of ``R_noisy @ R_exact^T`` (the noise when composed on
    the left), float64, (..., 3)."""

    def rot(x):
        return axis_angle_to_rotmat(
            torch.from_numpy(np.asarray(x, np.float64).reshape(-1, 3)))

    return rotmat_to_axis_angle(
        rot(noisy) @ rot(exact).transpose(-1, -2)).numpy().reshape(
            np.shape(noisy))


def test_pseudo_smpl_is_the_exact_one_with_noise(wild_root):
    wild = _load(wild_root, 'synthetic_train_wild')
    focal = 1.75 * SIZE
    betas_diff, pose_angle, orient_angle = [], [], []
    for row, i in enumerate(_indices(wild)):
        exact = _sample_params(SEED, 'train', i, SIZE, focal)
        orient = global_orient_from_angles(
            np.array([exact['yaw']]), exact['tilt'][None])[0]
        _, noise = _sample_wild(SEED, 'train', i, WILD)
        # Rotations composed as matrices, R = R_noise @ R_exact.
        d_orient = _relative_axis_angle(wild['smpl']['global_orient'][row],
                                        orient)
        np.testing.assert_allclose(d_orient, noise['global_orient'], atol=1e-4)
        d_pose = _relative_axis_angle(wild['smpl']['body_pose'][row],
                                      exact['body_pose'].reshape(23, 3))
        np.testing.assert_allclose(d_pose, noise['body_pose'], atol=1e-4)
        d_betas = wild['smpl']['betas'][row] - exact['betas']
        np.testing.assert_allclose(d_betas, noise['betas'], atol=1e-5)
        betas_diff.append(d_betas)
        pose_angle.append(np.linalg.norm(d_pose, axis=-1))
        orient_angle.append(np.linalg.norm(d_orient))
    # Magnitudes: per-component std, rotation angle RMS = sqrt(3) std.
    std = np.std(np.concatenate(betas_diff))
    assert 0.5 * NOISE['pseudo_betas_noise'] < std < \
        2 * NOISE['pseudo_betas_noise']
    rms = np.sqrt(np.mean(np.concatenate(pose_angle)**2))
    expected = math.sqrt(3) * NOISE['pseudo_pose_noise']
    assert 0.5 * expected < rms < 2 * expected
    assert 0 < np.mean(orient_angle) < 4 * NOISE['pseudo_orient_noise']


def test_dataset_subsets(wild_root, body_model_root):
    from mmengine.registry import init_default_scope

    from mmhuman_imphmr.datasets import SyntheticHumanDataset
    init_default_scope('mmhuman_imphmr')
    cfg = dict(
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        image_size=SIZE,
        seed=SEED,
        body_model_root=body_model_root,
        **WILD)
    npz = osp.join(wild_root, 'synthetic_train_wild.npz')
    mtime = os.stat(npz).st_mtime_ns
    pipeline = [
        dict(type='mmpose.LoadImage'),
        dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
        dict(type='mmpose.TopdownAffine', input_size=(32, 32)),
        dict(type='PackMeshInputs'),
    ]
    wild = SyntheticHumanDataset(
        data_root=wild_root,
        split='train',
        subset='wild',
        generate_cfg=cfg,
        pipeline=pipeline)
    assert os.stat(npz).st_mtime_ns == mtime  # not regenerated
    studio = SyntheticHumanDataset(
        data_root=wild_root,
        split='train',
        generate_cfg=cfg,
        pipeline=pipeline)
    assert len(wild) + len(studio) == NUM_TRAIN
    assert wild.label_type == 'pseudo_smpl' and studio.label_type == 'gt3d'
    assert wild.dataset_name == 'synthetic_train_wild'
    info = wild.get_data_info(0)
    assert info['has_kp3d'] == 0 and info['has_smpl'] == 1
    assert not info['keypoints3d'].any()
    assert info['label_type'] == 'pseudo_smpl'
    sample = wild[0]['data_samples']
    assert sample.metainfo['label_type'] == 'pseudo_smpl'
    assert float(sample.has_kp3d) == 0 and float(sample.has_smpl) == 1
    assert float(studio[0]['data_samples'].has_kp3d) == 1
    # An explicit label type still wins over the subset's.
    explicit = SyntheticHumanDataset(
        data_root=wild_root,
        split='train',
        subset='wild',
        generate_cfg=cfg,
        label_type='2d_only')
    assert explicit.label_type == '2d_only'


def test_dataset_subset_errors(base_root, body_model_root):
    from mmhuman_imphmr.datasets import SyntheticHumanDataset
    cfg = dict(
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        image_size=SIZE,
        seed=SEED,
        body_model_root=body_model_root)
    with pytest.raises(ValueError, match="subset='wild'.*split='val'"):
        SyntheticHumanDataset(
            data_root=base_root, split='val', subset='wild', generate_cfg=cfg)
    with pytest.raises(ValueError, match="subset.*'lab'"):
        SyntheticHumanDataset(
            data_root=base_root, subset='lab', generate_cfg=cfg)
    with pytest.raises(
            FileNotFoundError,
            match='synthetic_train_wild.npz.*wild_fraction > 0'):
        SyntheticHumanDataset(
            data_root=base_root,
            split='train',
            subset='wild',
            generate_cfg=cfg)


def test_wild_fraction_zero_changes_nothing(base_root, body_model_root,
                                            tmp_path):
    root = tmp_path / 'zero'
    files = _generate(
        root,
        body_model_root,
        wild_fraction=0.0,
        pseudo_orient_noise=0.3,
        pseudo_pose_noise=0.0,
        pseudo_betas_noise=2.0)
    assert sorted(files) == ['train', 'val']
    assert _files(str(root)) == _files(base_root)
    for rel in _files(base_root):
        if rel.endswith('.npz'):
            a, b = (
                load_human_data(osp.join(r, rel))
                for r in (base_root, str(root)))
            _assert_same_arrays(a, b)
            assert a['misc'] == b['misc']
            assert sorted(npz_keys(osp.join(base_root, rel))) == \
                sorted(npz_keys(osp.join(str(root), rel)))
            continue
        with open(osp.join(base_root, rel), 'rb') as a, \
                open(osp.join(str(root), rel), 'rb') as b:
            assert a.read() == b.read(), rel  # images and manifest.json


def test_worker_count_does_not_change_wild_output(wild_root, body_model_root,
                                                  tmp_path):
    root = str(tmp_path / 'w2')
    _generate(root, body_model_root, workers=2, **WILD)
    assert _files(root) == _files(wild_root)
    for name in ('synthetic_train', 'synthetic_train_wild', 'synthetic_val'):
        a, b = _load(wild_root, name), _load(root, name)
        _assert_same_arrays(a, b)


def test_all_or_no_wild_and_stale_file_removed(body_model_root, tmp_path):
    root = str(tmp_path / 'edge')
    small = dict(num_train=3, num_val=0)
    _generate(root, body_model_root, wild_fraction=1.0, **small)
    studio = _load(root, 'synthetic_train')
    wild = _load(root, 'synthetic_train_wild')
    assert len(studio['image_path']) == 0
    assert studio['keypoints3d'].shape == (0, 24, 4)
    assert studio['smpl']['body_pose'].shape == (0, 23, 3)
    assert _indices(wild) == [0, 1, 2]
    # Regenerating without wild samples removes the earlier wild file.
    files = ensure_synthetic_dataset(
        root,
        image_size=SIZE,
        seed=SEED,
        body_model_root=body_model_root,
        batch_size=5,
        workers=1,
        **small)
    assert sorted(files) == ['train', 'val']
    assert not osp.exists(osp.join(root, 'synthetic_train_wild.npz'))
    assert _indices(_load(root, 'synthetic_train')) == [0, 1, 2]
    with open(osp.join(root, 'manifest.json')) as f:
        assert 'wild_fraction' not in json.load(f)


@pytest.mark.parametrize('name, value', [
    ('wild_fraction', -0.1),
    ('wild_fraction', 1.5),
    ('wild_fraction', float('nan')),
    ('pseudo_orient_noise', -0.01),
    ('pseudo_pose_noise', -1.0),
    ('pseudo_betas_noise', -0.5),
    ('pseudo_betas_noise', float('inf')),
])
def test_wild_arguments_are_validated(name, value, tmp_path):
    root = str(tmp_path / 'never')
    for fn in (generate_synthetic_dataset, ensure_synthetic_dataset):
        with pytest.raises(ValueError) as err:
            fn(root, num_train=1, num_val=0, image_size=SIZE, **{name: value})
        assert name in str(err.value) and repr(value) in str(err.value)
    assert not osp.exists(root)  # checked before anything is written


def test_tool_flags(monkeypatch):
    spec = importlib.util.spec_from_file_location('gen_synthetic', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', [
        TOOL, 'out', '--wild-fraction', '0.25', '--pseudo-orient-noise', '0.2',
        '--pseudo-pose-noise', '0.3', '--pseudo-betas-noise', '0.4'
    ])
    args = tool.parse_args()
    assert (args.wild_fraction, args.pseudo_orient_noise,
            args.pseudo_pose_noise, args.pseudo_betas_noise) == (0.25, 0.2,
                                                                 0.3, 0.4)
    monkeypatch.setattr(sys, 'argv', [TOOL])
    args = tool.parse_args()
    assert (args.wild_fraction, args.pseudo_orient_noise,
            args.pseudo_pose_noise, args.pseudo_betas_noise) == (0.0, 0.1,
                                                                 0.15, 0.5)
