"""tools/analysis/benchmark_fps.py: one iteration per model, valid JSON."""
import importlib.util
import json
import os.path as osp

ROOT = osp.join(osp.dirname(__file__), '..', '..')
spec = importlib.util.spec_from_file_location(
    'benchmark_fps', osp.join(ROOT, 'tools', 'analysis', 'benchmark_fps.py'))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_default_models_cover_the_paper_tables():
    models = bench.model_list(bench.parse_args([]))
    labels = [m[0] for m in models]
    assert labels[:3] == ['imphmr_r50_mix', 'baseline_r50_mix',
                          'ptn_r50_mix']
    sizes = sorted(m[2].get('model.neck.map_size', 4) for m in models
                   if 'imphmr' in m[0])
    assert sizes == [1, 2, 4, 6]
    for _, config, _ in models:
        assert osp.isfile(osp.join(ROOT, config)), config


CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
# Small models (the CPU quick-start config, 64 x 64 input) keep it short.
FAST = ['--warmup', '0', '--iters', '1', '--repeats', '1', '--input-size',
        '64', '--device', 'cpu']


def test_benchmark_one_iteration_writes_json(body_model_root, tmp_path):
    out = str(tmp_path / 'bench.json')
    bench.main(['--configs', CONFIG, '--map-sizes', '2', '--baseline',
                'imphmr_r18_synthetic', '--body-model-root', body_model_root,
                '--out', out] + FAST)
    with open(out) as f:
        report = json.load(f)
    assert report['device'] == 'cpu' and report['device_name']
    assert report['protocol']['batch'] == 1
    assert report['torch_version'] and report['threads'] >= 1
    labels = [r['label'] for r in report['results']]
    assert labels == ['imphmr_r18_synthetic', 'imphmr_r18_synthetic map2']
    base, other = report['results']
    assert other['overrides'] == {'model.neck.map_size': 2}
    # The ratio is fps / fps of the baseline, so the baseline's is 1.
    assert base['ratio_to_baseline'] == 1.0
    assert abs(other['ratio_to_baseline'] - other['fps'] / base['fps']) < 1e-9
    assert all(r['fps'] > 0 and 'train' not in r for r in report['results'])


def test_train_step_in_subprocess(body_model_root, tmp_path):
    out = str(tmp_path / 'train.json')
    bench.main(['--configs', CONFIG, '--body-model-root', body_model_root,
                '--train-step', '--batch-size', '2', '--train-iters', '1',
                '--out', out] + FAST)
    with open(out) as f:
        (result, ) = json.load(f)['results']
    train = result['train']
    assert train['step_s'] > 0 and train['peak_memory_mb'] > 0
    assert train['memory_kind'].startswith('ru_maxrss')
    # Every view-aware term ran (batch of 2: one labelled, one not).
    assert any(k.startswith('loss_imag') for k in train['loss_terms'])
    assert any(k.startswith('loss_cons') for k in train['loss_terms'])
    # No baseline label among the models: no ratio.
    assert result['ratio_to_baseline'] is None
