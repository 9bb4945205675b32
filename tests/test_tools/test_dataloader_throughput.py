"""tools/analysis/dataloader_throughput.py on a tiny generated synthetic set:
every rate is measured, the step trains on the loader's batches, and the
verdict follows from the two rates."""
import importlib.util
import json
import os.path as osp

import pytest

from mmhuman_imphmr.datasets.synthetic import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'analysis', 'dataloader_throughput.py')
CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('dataloader_throughput',
                                                  SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory, body_model_root):
    root = str(tmp_path_factory.mktemp('syn_tp'))
    generate_synthetic_dataset(
        root,
        num_train=32,
        num_val=0,
        image_size=64,
        seed=2,
        body_model_root=body_model_root,
        batch_size=32,
        workers=1)
    return root


def test_rates_step_and_verdict(tiny_root, tmp_path, body_model_root):
    tool = _load_tool()
    out = str(tmp_path / 'tp.json')
    report = tool.main([
        CONFIG, '--data-root', tiny_root, '--num-workers', '1', '--batch-size',
        '4', '--batches', '2', '--samples', '8', '--measure-step', '--threads',
        '1', '--out', out, '--cfg-options',
        f'model.head.body_model.model_path={body_model_root}',
        f'model.head.mean_params={body_model_root}/smpl_mean_params.npz'
    ])
    with open(out) as f:
        assert json.load(f) == json.loads(json.dumps(report))
    assert report['per_worker']['samples'] == 8
    assert report['per_worker']['images_per_s'] > 0
    assert report['loader']['batches'] == 2
    assert report['loader']['images'] == 8  # 2 batches of 4 after the first
    step = report['step']
    assert step['batches'] == 2 and step['step_s'] > 0
    assert 0 <= step['wait_fraction'] < 1
    assert report['consumption_images_per_s'] == step['images_per_s']
    assert report['keeps_up'] == (
        report['loader']['images_per_s'] >= step['images_per_s'])


def test_given_step_time_sets_the_consumption(tiny_root, tmp_path):
    tool = _load_tool()
    report = tool.main([
        CONFIG, '--data-root', tiny_root, '--num-workers', '0', '--batch-size',
        '4', '--batches', '1', '--samples', '4', '--step-s', '2.0', '--out', ''
    ])
    assert report['consumption_images_per_s'] == 2.0  # 4 images / 2 s
    assert 'step' in report and report['step']['given']
