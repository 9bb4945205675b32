"""HumanImageDataset on mmhuman3d-style files, keypoint map, mix sampler."""
import numpy as np
import pytest
from mmengine.dataset import ConcatDataset

from mmhuman_imphmr.datasets import (HumanDataError, HumanImageDataset,
                                     MixDatasetSampler, save_human_data)
from mmhuman_imphmr.datasets.keypoint_mapping import (HUMAN_DATA_TO_SMPL49,
                                                      SMPL49_KEYPOINT_NAMES,
                                                      compress_keypoints,
                                                      from_smpl49, to_smpl49)
from mmhuman_imphmr.utils.constants import NUM_JOINTS


def write_mmhuman3d_file(path, num=6, seed=0, compressed=True, genders=None):
    """A file laid out like mmhuman3d's ``HumanData.dump``: keypoints in the
    190-joint 'human_data' convention, mask-compressed, smpl and meta dicts
    as 0-d object arrays. Returns the 49-joint values written."""
    rng = np.random.default_rng(seed)
    kp49 = rng.uniform(0, 200, (num, NUM_JOINTS, 3)).astype(np.float32)
    kp49[..., 2] = rng.integers(0, 2, (num, NUM_JOINTS))
    mask49 = np.ones(NUM_JOINTS, np.uint8)
    mask49[:25] = 0  # a dataset without OpenPose detections
    kp3d49 = rng.normal(size=(num, NUM_JOINTS, 4)).astype(np.float32)
    kp3d49[..., 3] = 1
    kp2d, mask2d = from_smpl49(kp49, mask49)
    kp3d, mask3d = from_smpl49(kp3d49, mask49)
    smpl = dict(
        global_orient=rng.normal(size=(num, 3)).astype(np.float32),
        body_pose=rng.normal(size=(num, 23, 3)).astype(np.float32),
        betas=rng.normal(size=(num, 10)).astype(np.float32))
    genders = genders or ['m', 'f', 'male', 'female', 'neutral', 'm'][:num]
    data = dict(
        image_path=np.array([f'images/{i:03d}.jpg' for i in range(num)]),
        # boxes of at least 1 pixel: smaller ones are refused at build
        bbox_xywh=np.concatenate(
            [rng.uniform(1, 100, (num, 4)),
             np.ones((num, 1))], 1).astype(np.float32),
        keypoints2d=compress_keypoints(kp2d, mask2d) if compressed else kp2d,
        keypoints2d_mask=mask2d,
        keypoints3d=compress_keypoints(kp3d, mask3d) if compressed else kp3d,
        keypoints3d_mask=mask3d,
        smpl=smpl,
        has_smpl=np.array([1, 0] * (num // 2) + [1] * (num % 2)),
        meta=dict(gender=np.array(genders)))
    save_human_data(str(path), data, keypoints_compressed=compressed)
    return dict(
        kp49=kp49,
        mask49=mask49,
        kp3d49=kp3d49,
        smpl=smpl,
        bbox=data['bbox_xywh'],
        has_smpl=data['has_smpl'])


def test_mapping_tables():
    # 49 distinct indices into the 190 'human_data' joints, one per name.
    assert len(HUMAN_DATA_TO_SMPL49) == len(SMPL49_KEYPOINT_NAMES) == 49
    assert len(set(HUMAN_DATA_TO_SMPL49)) == 49
    assert 0 <= min(HUMAN_DATA_TO_SMPL49) and max(HUMAN_DATA_TO_SMPL49) < 190
    x = np.random.default_rng(1).normal(size=(2, 49, 3))
    back, mask = to_smpl49(from_smpl49(x)[0], 'human_data')
    np.testing.assert_array_equal(back[..., :2], x[..., :2])
    assert mask.all()
    # smpl_24 fills only the 24 GT joints (positions 25..48).
    y, mask = to_smpl49(x[:, 25:], 'smpl_24')
    assert (mask[:25] == 0).all() and (mask[25:] == 1).all()
    np.testing.assert_array_equal(y[:, 25:], x[:, 25:])
    with pytest.raises(KeyError, match='not supported'):
        to_smpl49(x, 'coco')


@pytest.mark.parametrize('compressed', [True, False])
def test_dataset_reads_mmhuman3d_file(tmp_path, compressed):
    src = write_mmhuman3d_file(
        tmp_path / 'eft_coco_all.npz', compressed=compressed)
    ds = HumanImageDataset(
        ann_file=str(tmp_path / 'eft_coco_all.npz'),
        data_prefix=dict(img_path='data/coco'),
        dataset_name='coco')
    assert len(ds) == 6
    for i in range(6):
        info = ds.get_data_info(i)
        x, y, w, h = src['bbox'][i, :4]
        np.testing.assert_allclose(
            info['bbox'], [[x, y, x + w, y + h]], rtol=1e-6)
        assert info['bbox'].shape == (1, 4)
        assert info['bbox_score'].shape == (1, )
        assert info['img_path'] == f'data/coco/images/{i:03d}.jpg'
        # The mask zeroes the OpenPose joints; the GT joints keep their values.
        conf = src['kp49'][i, :, 2] * src['mask49']
        np.testing.assert_array_equal(info['keypoints_visible'][0], conf)
        np.testing.assert_array_equal(info['keypoints'][0, 25:],
                                      src['kp49'][i, 25:, :2])
        assert info['keypoints'].shape == (1, 49, 2)
        np.testing.assert_array_equal(info['keypoints3d'], src['kp3d49'][i,
                                                                         25:])
        np.testing.assert_array_equal(info['smpl_body_pose'],
                                      src['smpl']['body_pose'][i].reshape(69))
        np.testing.assert_array_equal(info['smpl_global_orient'],
                                      src['smpl']['global_orient'][i])
        np.testing.assert_array_equal(info['smpl_betas'],
                                      src['smpl']['betas'][i])
        assert info['has_smpl'] == src['has_smpl'][i]
        assert info['has_kp3d'] == 1
        assert info['dataset_name'] == 'coco' and info['sample_idx'] == i
    genders = [ds.get_data_info(i)['gender'] for i in range(6)]
    assert genders == ['male', 'female', 'male', 'female', 'neutral', 'male']


@pytest.mark.parametrize(
    'genders',
    [
        [0, 1, 1, 0, -1, 0],  # SPIN/PARE int32 codes
        [0.0, 1.0, 1.0, 0.0, -1.0, 0.0],  # the same as floats
        ['0', '1', '1', '0', '-1', '0'],  # ... as astype(str) writes them
        ['m', 1, 'female', 0, 'neutral', 0],  # mixed with names
    ])
def test_integer_gender_codes_follow_spin(tmp_path, genders):
    # SPIN's base_dataset: gender = 0 if 'm' else 1, and -1 when the file has
    # none. 0 must not become this package's code 0 ('neutral').
    write_mmhuman3d_file(tmp_path / 'g.npz', genders=genders)
    ds = HumanImageDataset(ann_file=str(tmp_path / 'g.npz'))
    assert [ds.get_data_info(i)['gender'] for i in range(6)
            ] == ['male', 'female', 'female', 'male', 'neutral', 'male']


@pytest.mark.parametrize('bad, match', [
    (2, r'unknown integer gender code 2.*0 = male, 1 = female'),
    (0.5, r'unknown integer gender code 0.5'),
    ('x', r"unknown gender 'x'"),
])
def test_unknown_gender_codes_are_refused(tmp_path, bad, match):
    write_mmhuman3d_file(tmp_path / 'g.npz', genders=[0, 1, bad, 0, 1, 0])
    with pytest.raises(
            HumanDataError, match=r'g.npz: key "meta.gender": ' + match):
        HumanImageDataset(ann_file=str(tmp_path / 'g.npz'))


def test_dataset_validation_errors(tmp_path):
    path = tmp_path / 'bad.npz'
    write_mmhuman3d_file(path)
    data = dict(np.load(path, allow_pickle=True))
    smpl = data['smpl'].item()
    smpl['betas'] = smpl['betas'].copy()
    smpl['betas'][3, 2] = np.nan
    data['smpl'] = np.array(smpl, dtype=object)
    np.savez(path, **data)
    with pytest.raises(
            HumanDataError,
            match=r'bad.npz: key "smpl.betas": '
            r'NaN/Inf at sample index 3'):
        HumanImageDataset(ann_file=str(path))

    smpl['betas'] = np.zeros((6, 7))
    data['smpl'] = np.array(smpl, dtype=object)
    np.savez(path, **data)
    with pytest.raises(
            HumanDataError,
            match=r'smpl.betas.*expected.*\(6, 10\)'
            r'.*found \(6, 7\)'):
        HumanImageDataset(ann_file=str(path))

    del data['bbox_xywh']
    np.savez(path, **data)
    with pytest.raises(HumanDataError, match='key "bbox_xywh": missing'):
        HumanImageDataset(ann_file=str(path))


def test_dataset_is_lazy_and_picklable(tmp_path):
    import pickle
    write_mmhuman3d_file(tmp_path / 'a.npz')
    ds = HumanImageDataset(ann_file=str(tmp_path / 'a.npz'))
    assert ds.data_list == []  # no per-sample dicts are built
    assert isinstance(ds.arrays['keypoints2d'], np.memmap)
    clone = pickle.loads(pickle.dumps(ds))
    # The memory maps are dropped from the pickle and re-opened on demand.
    assert len(pickle.dumps(ds)) < 10000
    np.testing.assert_array_equal(
        clone.get_data_info(3)['keypoints'],
        ds.get_data_info(3)['keypoints'])
    # indices select samples without re-reading the file.
    sub = HumanImageDataset(ann_file=str(tmp_path / 'a.npz'), indices=[4, 1])
    assert len(sub) == 2
    np.testing.assert_array_equal(
        sub.get_data_info(0)['smpl_betas'],
        ds.get_data_info(4)['smpl_betas'])
    with pytest.raises(IndexError):
        sub.get_data_info(2)


def _concat(tmp_path, sizes):
    datasets = []
    for d, n in enumerate(sizes):
        write_mmhuman3d_file(
            tmp_path / f'd{d}.npz', num=n, seed=d, genders=['m'] * n)
        datasets.append(
            HumanImageDataset(ann_file=str(tmp_path / f'd{d}.npz')))
    return ConcatDataset(datasets)


def test_mix_sampler_ratios_determinism_and_ranks(tmp_path, monkeypatch):
    ds = _concat(tmp_path, [2, 6, 3])
    sampler = MixDatasetSampler(
        ds, partition=[0.5, 0.3, 0.2], num_samples=20000, seed=3)
    idx = np.array(list(sampler))
    which = np.searchsorted(ds.cumulative_sizes, idx, side='right')
    freq = np.bincount(which, minlength=3) / len(idx)
    # 20000 draws: the binomial std of a frequency is <= 0.0036, so 0.02 is
    # > 5 sigma.
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=0.02)
    assert list(sampler) == idx.tolist()  # same seed and epoch
    sampler.set_epoch(1)
    assert list(sampler) != idx.tolist()

    # Two ranks: disjoint positions of one global draw, equal lengths.
    import mmhuman_imphmr.datasets.samplers as samplers
    parts = []
    for rank in range(2):
        monkeypatch.setattr(samplers, 'get_dist_info', lambda r=rank: (r, 2))
        s = MixDatasetSampler(ds, partition=[1, 1, 1], num_samples=11, seed=0)
        parts.append(list(s))
        assert len(s) == 6
    glob = s.global_indices(0)
    assert parts[0] == glob[0::2].tolist() and parts[1] == glob[1::2].tolist()


def test_mix_sampler_errors(tmp_path):
    ds = _concat(tmp_path, [2, 3])
    with pytest.raises(ValueError, match='2 datasets'):
        MixDatasetSampler(ds, partition=[0.3, 0.3, 0.4])
    with pytest.raises(ValueError, match='not all zero'):
        MixDatasetSampler(ds, partition=[0, 0])

    class Empty(list):
        dataset_name = 'empty_ds'

    fake = type(
        'Concat', (),
        dict(datasets=[ds.datasets[0], Empty()], cumulative_sizes=[2, 2]))()
    with pytest.raises(ValueError, match="'empty_ds', which is empty"):
        MixDatasetSampler(fake, partition=[0.5, 0.5])
    # Weight 0 on the empty dataset is fine.
    assert len(MixDatasetSampler(fake, partition=[1, 0], seed=0)) == 2
