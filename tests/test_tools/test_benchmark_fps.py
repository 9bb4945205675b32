"""tools/analysis/benchmark_fps.py: one iteration per model, valid JSON."""
import importlib.util
import json
import os.path as osp

import torch

ROOT = osp.join(osp.dirname(__file__), '..', '..')
spec = importlib.util.spec_from_file_location(
    'benchmark_fps', osp.join(ROOT, 'tools', 'analysis', 'benchmark_fps.py'))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_default_models_cover_the_paper_tables():
    models = bench.model_list(bench.parse_args([]))
    labels = [m[0] for m in models]
    assert labels[:4] == [
        'imphmr_r50_mix', 'baseline_r50_mix', 'ptn_r50_mix', 'hmr_r50_mix'
    ]  # HMR-EFT
    sizes = sorted(m[2].get('model.neck.map_size', 4) for m in models
                   if 'imphmr' in m[0])
    assert sizes == [1, 2, 4, 6]
    for _, config, _ in models:
        assert osp.isfile(osp.join(ROOT, config)), config


CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
# Small models (the CPU quick-start config, 64 x 64 input) keep it short.
FAST = [
    '--warmup', '0', '--iters', '1', '--repeats', '1', '--input-size', '64',
    '--device', 'cpu'
]


def test_benchmark_one_iteration_writes_json(body_model_root, tmp_path):
    out = str(tmp_path / 'bench.json')
    bench.main([
        '--configs', CONFIG, '--map-sizes', '4', '--baseline',
        'imphmr_r18_synthetic', '--body-model-root', body_model_root, '--out',
        out
    ] + FAST)
    with open(out) as f:
        report = json.load(f)
    assert report['device'] == 'cpu' and report['device_name']
    assert report['protocol']['batch'] == 1
    assert report['protocol']['protocol'] == 'forward'  # paper Tables 6/7
    assert report['protocol']['amp'] is False
    assert report['torch_version'] and report['threads'] >= 1
    labels = [r['label'] for r in report['results']]
    assert labels == ['imphmr_r18_synthetic', 'imphmr_r18_synthetic map4']
    base, other = report['results']
    assert other['overrides'] == {'model.neck.map_size': 4}
    # The ratio is fps / fps of the baseline, so the baseline's is 1.
    assert base['ratio_to_baseline'] == 1.0
    assert abs(other['ratio_to_baseline'] - other['fps'] / base['fps']) < 1e-9
    assert all(r['fps'] > 0 and 'train' not in r for r in report['results'])


def test_train_step_in_subprocess(body_model_root, tmp_path):
    out = str(tmp_path / 'train.json')
    bench.main([
        '--configs', CONFIG, '--body-model-root', body_model_root,
        '--train-step', '--batch-size', '2', '--train-iters', '1',
        '--train-rounds', '2', '--out', out
    ] + FAST)
    with open(out) as f:
        (result, ) = json.load(f)['results']
    train = result['train']
    assert len(train['rounds']) == 2  # two interleaved subprocess rounds
    assert train['step_s'] == min(train['rounds'])
    assert train['step_s'] > 0 and train['peak_memory_mb'] > 0
    assert train['memory_kind'].startswith('ru_maxrss')
    # The quick-start config trains in bf16 (AmpOptimWrapper); without
    # --amp the benchmark times its step in float32.
    assert train['optim_wrapper'] == 'OptimWrapper'
    assert train['amp_active'] is False
    # Every view-aware term ran (batch of 2: one labelled, one not).
    assert any(k.startswith('loss_imag') for k in train['loss_terms'])
    assert any(k.startswith('loss_cons') for k in train['loss_terms'])
    # No baseline label among the models: no ratio.
    assert result['ratio_to_baseline'] is None


def test_forward_protocol_times_the_model_without_the_silhouette_decoder(
        body_model_root):
    """The paper's protocol times the forward only: backbone, neck at
    phi = 0, regressor and mesh -- not the training-only silhouette decoder
    and not ImpHMR.predict's copies into data samples."""
    model = bench.build_model(CONFIG, {}, body_model_root, 'cpu').eval()
    called = []
    model.silhouette_head.register_forward_hook(
        lambda *a: called.append('silhouette'))
    with torch.no_grad():
        out = bench.forward_fn(model, 'forward')(torch.randn(1, 3, 64, 64))
    assert not called
    assert out['pred_vertices'].shape == (1, 6890, 3)
    with torch.no_grad():
        (sample, ) = bench.forward_fn(model, 'predict')(
            torch.randn(1, 3, 64, 64))
    assert 'pred_vertices' in sample


def test_compile_and_amp_flags(body_model_root, tmp_path, monkeypatch):
    """--compile wraps each timed forward in torch.compile with the mode
    given (a recording stand-in here: compiling a ResNet takes minutes on
    2 cores); --amp reaches the training step as an AmpOptimWrapper, and the
    report says whether autocast was really on (this CPU may lack bf16
    units: then both run in float32 and amp_dtype is None)."""
    modes = []

    def fake_compile(fn, mode=None):
        modes.append(mode)
        return fn

    monkeypatch.setattr(bench.torch, 'compile', fake_compile)
    out = str(tmp_path / 'amp.json')
    bench.main([
        '--configs', CONFIG, '--body-model-root', body_model_root, '--compile',
        'reduce-overhead', '--amp', '--train-step', '--batch-size', '2',
        '--train-iters', '1', '--out', out
    ] + FAST)
    assert modes == ['reduce-overhead']
    with open(out) as f:
        report = json.load(f)
    (result, ) = report['results']
    assert report['protocol']['compile'] == 'reduce-overhead'
    assert report['protocol']['amp'] is True
    from mmhuman_imphmr.engine import cpu_bf16_support
    assert (report['protocol']['amp_dtype'] is None) == (
        cpu_bf16_support() is None)
    train = result['train']
    assert train['optim_wrapper'] == 'AmpOptimWrapper'
    assert train['amp_active'] == (cpu_bf16_support() is not None)
    # the config's optimizer (fused Adam of the base schedule)
    assert train['optimizer'].startswith('Adam')
