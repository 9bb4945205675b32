"""Dataset label types: declared or inferred, checked, carried per sample."""
import contextlib
import logging
import os.path as osp

import numpy as np
import pytest
import torch
from humandata_factory import KINDS, build_dataset, build_packed_batch
from mmengine.dataset import ConcatDataset, pseudo_collate
from mmengine.logging import MMLogger

from mmhuman_imphmr.datasets import (HumanImageDataset, LabelTypeWarning,
                                     MixDatasetSampler, infer_label_type,
                                     save_human_data)
from mmhuman_imphmr.utils.constants import LABEL_TYPES


@contextlib.contextmanager
def mmengine_log(level=logging.INFO):
    """The records that reach the current MMLogger (print_log 'current')."""
    records = []

    class Keep(logging.Handler):

        def emit(self, record):
            records.append(record)

    logger = MMLogger.get_current_instance()
    handler, old = Keep(level), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _write(path, smpl=True, kp3d=False, num=3):
    """A minimal HumanData file (smpl_49 keypoints) named ``path``."""
    rng = np.random.default_rng(0)
    data = dict(
        image_path=np.array([f'{i}.jpg' for i in range(num)]),
        bbox_xywh=np.tile([[0., 0., 10., 10., 1.]], (num, 1)),
        keypoints2d=rng.uniform(0, 10, (num, 49, 3)).astype(np.float32),
        keypoints2d_convention='smpl_49')
    if kp3d:
        data.update(
            keypoints3d=np.ones((num, 49, 4), np.float32),
            keypoints3d_convention='smpl_49')
    if smpl:
        data['smpl'] = dict(
            global_orient=np.zeros((num, 3)),
            body_pose=np.zeros((num, 69)),
            betas=np.zeros((num, 10)))
    save_human_data(str(path), data)
    return str(path)


@pytest.mark.parametrize('kind', sorted(KINDS))
def test_declared_type_reaches_every_packed_sample(tmp_path, kind):
    inputs, samples = build_packed_batch(tmp_path, kind, num=2, input_size=32)
    assert inputs.shape == (2, 3, 32, 32)
    for sample in samples:
        assert sample.metainfo['label_type'] == KINDS[kind][2]
        assert isinstance(sample.metainfo['label_type'], str)


@pytest.mark.parametrize('kind', sorted(KINDS))
def test_inferred_type_is_logged(tmp_path, kind):
    # h36m (SMPL + 3D) -> gt3d, eft (SMPL only) -> pseudo_smpl, 2D -> 2d_only:
    # the rule of DESIGN §3 read off the file, with one line that asks the
    # config to declare it.
    with mmengine_log() as records:
        dataset = build_dataset(tmp_path, kind, num=2, label_type=None)
    expected = KINDS[kind][2]
    assert dataset.label_type == expected
    assert dataset.get_data_info(1)['label_type'] == expected
    lines = [r for r in records if 'not declared' in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert f'inferred {expected!r}' in lines[0].getMessage()
    assert f'{kind}.npz' in lines[0].getMessage()
    assert f'label_type={expected!r}' in lines[0].getMessage()


def test_infer_needs_smpl_and_3d_on_one_sample():
    smpl = np.array([True, False])
    assert infer_label_type(smpl, np.array([False, True])) == 'pseudo_smpl'
    assert infer_label_type(smpl, np.array([True, False])) == 'gt3d'
    assert infer_label_type(np.zeros(2, bool), smpl) == '2d_only'


def test_bad_label_type_names_file_expected_and_found(tmp_path):
    path = _write(tmp_path / 'eft_mpii.npz')
    with pytest.raises(
            ValueError,
            match=r"eft_mpii.npz: label_type must be "
            r"one of \('gt3d', 'pseudo_smpl', '2d_only'\).*"
            r"found 'pseudo'"):
        HumanImageDataset(ann_file=path, label_type='pseudo')
    assert LABEL_TYPES == ('gt3d', 'pseudo_smpl', '2d_only')


@pytest.mark.parametrize('declared, stem, replacement', [
    ('gt3d', 'h36m_train', 'h36m_mosh_train.npz'),
    ('gt3d', 'mpi_inf_3dhp_train', 'spin_mpi_inf_3dhp_train.npz'),
    ('pseudo_smpl', 'coco_2014_train', 'eft_coco_all.npz'),
    ('pseudo_smpl', 'my_set', 'a file of this dataset with SMPL'),
])
def test_declared_smpl_type_without_smpl_warns_loudly(tmp_path, declared, stem,
                                                      replacement):
    path = _write(
        tmp_path / f'{stem}.npz', smpl=False, kp3d=declared == 'gt3d')
    with mmengine_log() as records, pytest.warns(LabelTypeWarning) as caught:
        dataset = HumanImageDataset(ann_file=path, label_type=declared)
    assert dataset.label_type == declared  # declared wins, but loudly
    message = str(caught[0].message)
    for text in (f'{stem}.npz', f'label_type={declared!r}',
                 'no sample has SMPL', "silently removes L_imag's pose and "
                 "shape terms", "L_reg's theta/beta", replacement,
                 'docs/data_preparation.md'):
        assert text in message, text
    logged = [r for r in records if r.getMessage() == message]
    assert len(logged) == 1 and logged[0].levelno == logging.WARNING


def test_2d_only_with_smpl_is_an_info_line(tmp_path):
    path = _write(tmp_path / 'eft_lspet.npz', smpl=True)
    import warnings
    with mmengine_log() as records, warnings.catch_warnings():
        warnings.simplefilter('error', LabelTypeWarning)
        HumanImageDataset(ann_file=path, label_type='2d_only')
    lines = [r for r in records if 'eft_lspet.npz' in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert 'unused for L_imag' in lines[0].getMessage()


def test_gt3d_without_3d_joints_is_flagged_for_training_only(tmp_path):
    path = _write(tmp_path / 'eft_coco_all.npz', smpl=True, kp3d=False)
    with mmengine_log() as records:
        HumanImageDataset(ann_file=path, label_type='gt3d')
    lines = [r for r in records if 'no sample has 3D joints' in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    # A test set (3DPW: GT joints come from the GT mesh) is not flagged.
    with mmengine_log() as records:
        HumanImageDataset(ann_file=path, label_type='gt3d', test_mode=True)
    assert not [r for r in records if '3D joints' in r.getMessage()]


def test_consistent_declarations_are_silent(tmp_path):
    import warnings
    with mmengine_log() as records, warnings.catch_warnings():
        warnings.simplefilter('error', LabelTypeWarning)
        for kind in KINDS:
            build_dataset(tmp_path, kind, num=2)
    assert not [r for r in records if 'label_type' in r.getMessage()]


def test_concat_and_mix_sampler_keep_the_type_per_sample(tmp_path):
    datasets = [
        build_dataset(tmp_path, kind, num=3, input_size=16, seed=i)
        for i, kind in enumerate(sorted(KINDS))
    ]
    concat = ConcatDataset(datasets)
    sampler = MixDatasetSampler(
        concat, partition=[1, 1, 1], num_samples=12, seed=0)
    indices = list(sampler)
    batch = pseudo_collate([concat[i] for i in indices])
    which = np.searchsorted(concat.cumulative_sizes, indices, side='right')
    assert len(set(which.tolist())) == 3  # the batch mixes all three
    for d, sample in zip(which, batch['data_samples']):
        kind = datasets[d].dataset_name
        assert sample.metainfo['label_type'] == KINDS[kind][2]
        assert sample.has_smpl.item() == float(KINDS[kind][0])
        assert sample.has_kp3d.item() == float(KINDS[kind][1])
    assert all(isinstance(x, torch.Tensor) for x in batch['inputs'])
    assert osp.basename(datasets[0].ann_file) == '2d_only.npz'
