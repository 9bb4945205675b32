"""bf16 autocast (``--amp`` on the CPU): the loss of a fixed batch agrees
with float32, the float32 regions stay float32, and a few steps train.

bf16 runs (emulated) on every CPU, so these tests run everywhere; only the
speed needs the bf16 units (tools/analysis/benchmark_fps.py --amp).
"""
import pytest
import torch

from mmhuman_imphmr.engine import AmpOptimWrapper

FULL = 'imphmr_r50_mix.py'


def _losses(model, inputs, samples, bf16):
    torch.manual_seed(0)  # same views and dropout masks in both runs
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        return model(inputs, samples, mode='loss')


def test_bf16_loss_of_a_fixed_batch_agrees_with_fp32(build_model, batch):
    """Tolerance: bf16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%); a
    ResNet-50 forward sums thousands of such products, so its activations
    carry ~1% relative noise, and a loss term is a mean of squared errors
    of those: 10% relative per term and 5% on the total are generous for
    noise and small enough to catch a term computed in bf16 end to end
    (the body model in bf16 moves joints by millimetres, the keypoint
    losses by far more than that) or a term lost under autocast."""
    model = build_model(FULL).train()
    inputs, samples = batch(['gt3d', 'pseudo_smpl', '2d_only', 'gt3d'])
    with torch.no_grad():
        ref = _losses(model, inputs, samples, bf16=False)
        amp = _losses(model, inputs, samples, bf16=True)
    assert set(amp) == set(ref)
    for key in ref:
        assert amp[key].dtype == torch.float32, key  # losses in fp32
        torch.testing.assert_close(
            amp[key], ref[key], rtol=0.10, atol=1e-4, msg=key)
    total_ref = sum(ref.values())
    total_amp = sum(amp.values())
    assert abs(float(total_amp - total_ref)) <= 0.05 * float(total_ref)


def test_fp32_regions_stay_fp32_under_autocast(build_model, batch):
    model = build_model(FULL).eval()
    inputs, _ = batch(['gt3d', 'gt3d'])
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model.extract_feat(inputs)
        assert feats.dtype == torch.bfloat16  # autocast is really on
        out = model.neck(feats, torch.zeros(2, 1))
        preds = model.head(out.latent)
        _, extras = model.neck.renderer(
            lambda p, d, rows=None: model.neck.field(
                p,
                d,
                out.latent.new_zeros(2, model.neck.in_channels).float(),
                rows=rows),  # the neck's renderer skips the empty space
            torch.zeros(2),
            return_extras=True)
    for key in ('pred_vertices', 'pred_joints', 'pred_keypoints2d',
                'pred_rotmat', 'pred_betas'):
        assert preds[key].dtype == torch.float32, key
    assert extras['weights'].dtype == torch.float32
    assert extras['opacity'].dtype == torch.float32


def test_a_few_bf16_steps_train(build_model, batch):
    """Four Adam steps on one batch under forced bf16 through the wrapper's
    own context lower the loss (the batch is fixed: it can be fitted)."""
    torch.manual_seed(0)
    model = build_model(FULL, {'neck.density_noise_std': 0.}).train()
    inputs, samples = batch(['gt3d', 'pseudo_smpl'])
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-4),
        device='cpu',
        force=True)
    assert wrapper.enabled
    totals = []
    for _ in range(5):
        torch.manual_seed(1)  # the same views every step
        with wrapper.optim_context(model):
            assert torch.is_autocast_enabled('cpu')
            losses = model(inputs, samples, mode='loss')
        loss = sum(losses.values())
        wrapper.update_params(loss)
        totals.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(totals)))
    assert totals[-1] < 0.9 * totals[0], totals


def test_wrapper_falls_back_to_fp32_without_bf16_units(monkeypatch, caplog):
    import mmhuman_imphmr.engine.amp_optim_wrapper as amp
    monkeypatch.setattr(amp, 'cpu_bf16_support', lambda: None)
    lin = torch.nn.Linear(3, 3)
    logs = []
    monkeypatch.setattr(amp, 'print_log', lambda msg, **kw: logs.append(msg))
    wrapper = amp.AmpOptimWrapper(
        optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), device='cpu')
    assert not wrapper.enabled
    assert len(logs) == 1 and 'training in float32' in logs[0]
    with wrapper.optim_context(lin):
        assert lin(torch.ones(1, 3)).dtype == torch.float32
    # where the CPU has the units, bf16 is on without forcing
    monkeypatch.setattr(amp, 'cpu_bf16_support', lambda: 'AMX')
    wrapper = amp.AmpOptimWrapper(
        optimizer=torch.optim.SGD(lin.parameters(), lr=0.1), device='cpu')
    assert wrapper.enabled
    with wrapper.optim_context(lin):
        assert lin(torch.ones(1, 3)).dtype == torch.bfloat16
    # state dicts: a GPU run's loss scaler is dropped on the CPU
    state = wrapper.state_dict()
    state['loss_scaler'] = {'scale': 65536.}
    wrapper.load_state_dict(state)


def test_fp16_on_the_cpu_is_refused_and_the_registry_gives_this_wrapper():
    from mmengine.registry import init_default_scope

    from mmhuman_imphmr.registry import OPTIM_WRAPPERS
    lin = torch.nn.Linear(3, 3)
    with pytest.raises(
            ValueError, match='float16 is not supported on the '
            'CPU'):
        AmpOptimWrapper(
            optimizer=torch.optim.SGD(lin.parameters(), lr=0.1),
            device='cpu',
            dtype='float16')
    init_default_scope('mmhuman_imphmr')
    built = OPTIM_WRAPPERS.build(
        dict(
            type='AmpOptimWrapper',
            device='cpu',
            optimizer=torch.optim.SGD(lin.parameters(), lr=0.1)))
    assert isinstance(built, AmpOptimWrapper)
