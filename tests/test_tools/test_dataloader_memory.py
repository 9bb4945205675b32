"""tools/analysis/dataloader_memory.py on a tiny generated synthetic set."""
import importlib.util
import json
import os
import os.path as osp

import pytest

from mmhuman_imphmr.datasets.synthetic import generate_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'analysis', 'dataloader_memory.py')
CONFIG = osp.join(ROOT, 'configs', '_base_', 'datasets', 'synthetic.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('dataloader_memory', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory, body_model_root):
    root = str(tmp_path_factory.mktemp('syn64'))
    generate_synthetic_dataset(
        root,
        num_train=64,
        num_val=0,
        image_size=32,
        seed=1,
        body_model_root=body_model_root,
        batch_size=32,
        workers=1)
    return root


@pytest.mark.skipif(
    not osp.exists('/proc/self/status'), reason='reads /proc (Linux)')
def test_epoch_with_two_workers_is_measured(tiny_root, tmp_path):
    tool = _load_tool()
    out = str(tmp_path / 'memory.json')
    status = tool.main([
        CONFIG, '--data-root', tiny_root, '--num-workers', '2', '--batch-size',
        '16', '--every', '2', '--out', out, '--max-growth-mb', '1e6'
    ])
    assert status == 0  # a generous growth limit passes
    with open(out) as f:
        report = json.load(f)
    # One whole epoch: 64 samples in 4 batches of 16.
    assert report['dataset_len'] == 64
    assert (report['samples'], report['batches']) == (64, 4)
    labels = [r['label'] for r in report['records']]
    assert labels[0] == 'before' and labels[1] == 'first batch'
    assert labels[-1] == 'end' and len(labels) == 4  # + batch 2
    # Before iterating there is no worker; afterwards the two persistent
    # workers are found (children of this process) and measured.
    assert report['records'][0]['workers'] == []
    for rec in report['records'][1:]:
        pids = {w['pid'] for w in rec['workers']}
        assert len(pids) == 2 and os.getpid() not in pids
        for proc in [rec['parent']] + rec['workers']:
            assert 0 < proc['RssAnon'] <= proc['VmRSS']
        assert rec['total_rss_mb'] == pytest.approx(
            sum(p['VmRSS'] for p in [rec['parent']] + rec['workers']))
    first, end = report['records'][1], report['records'][-1]
    assert report['growth_anon_mb'] == pytest.approx(end['total_anon_mb'] -
                                                     first['total_anon_mb'])


def test_growth_limit_sets_the_exit_status(tiny_root, tmp_path):
    tool = _load_tool()
    # A limit below any possible growth (memory cannot shrink by 1 TiB)
    # must fail; no worker processes keep this fast.
    assert tool.main([
        CONFIG, '--data-root', tiny_root, '--num-workers', '0', '--batch-size',
        '32', '--out', '', '--max-growth-mb=-1e6'
    ]) == 1
