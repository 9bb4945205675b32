"""The dataset configs declare a label type for every dataset they build."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmhuman_imphmr.utils.constants import LABEL_TYPES

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATASET_CONFIGS = osp.join(ROOT, 'configs', '_base_', 'datasets')


def _datasets(cfg):
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if key not in cfg:
            continue
        dataset = cfg[key]['dataset']
        yield from dataset.get('datasets', [dataset])


@pytest.mark.parametrize('name, expected', [
    ('mix_train.py', {
        'h36m': 'gt3d',
        'mpi_inf_3dhp': 'gt3d',
        'coco': 'pseudo_smpl',
        'lspet': 'pseudo_smpl',
        'mpii': 'pseudo_smpl'
    }),
    ('coco_train.py', {
        'coco': 'pseudo_smpl'
    }),
    ('pw3d_test.py', {
        'pw3d': 'gt3d'
    }),
    ('synthetic.py', {
        None: 'gt3d'
    }),
])
def test_every_dataset_declares_its_label_type(name, expected):
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, name))
    found = {}
    for dataset in _datasets(cfg):
        assert dataset.get('label_type') in LABEL_TYPES, dataset
        found[dataset.get('dataset_name')] = dataset['label_type']
    assert found == expected


def test_paper_mix_reads_the_3d_files_with_smpl():
    # mmhuman3d's h36m_train.npz / mpi_inf_3dhp_train.npz carry no SMPL;
    # its HMR/SPIN/PARE configs train on h36m_mosh_train.npz and its SPIN
    # config on spin_mpi_inf_3dhp_train.npz (SPIN's static fits).
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, 'mix_train.py'))
    files = {d.dataset_name: osp.basename(d.ann_file) for d in _datasets(cfg)}
    assert files == {
        'h36m': 'h36m_mosh_train.npz',
        'mpi_inf_3dhp': 'spin_mpi_inf_3dhp_train.npz',
        'coco': 'eft_coco_all.npz',
        'lspet': 'eft_lspet.npz',
        'mpii': 'eft_mpii.npz'
    }
    # PARE's shares, in the order of the concatenated datasets.
    assert cfg.train_dataloader.sampler.partition == [
        0.5, 0.233, 0.046, 0.021, 0.2
    ]
