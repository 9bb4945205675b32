"""A NaN loss stops training naming the batch, or skips the update."""
import numpy as np
import pytest
import torch

from mmhuman_imphmr.engine import NonFiniteLossError
from .toy_runner import make_runner


def test_nan_loss_raises_with_sample_ids(tmp_path):
    # Batches of 2 without shuffling: sample 5 is in the 3rd batch (4, 5).
    runner = make_runner(str(tmp_path), max_epochs=1, nan_at=5)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert 'toy:4 (img_4.png)' in msg and 'toy:5 (img_5.png)' in msg
    assert "non-finite terms ['loss_toy']" in msg
    assert 'nonfinite_loss="skip"' in msg
    # Weights were not touched by the NaN batch.
    assert torch.isfinite(runner.model.fc.weight).all()


def test_nan_loss_skip_leaves_weights_and_optimizer(tmp_path, monkeypatch):
    runner = make_runner(
        str(tmp_path), max_epochs=1, nan_at=5, nonfinite_loss='skip')
    snapshots = {}
    model = runner.model

    from mmhuman_imphmr.engine import nonfinite_loss

    real = nonfinite_loss.checked_train_step

    def spy(module, run_forward, data, optim_wrapper, wrapper=None):
        idx = [s.sample_idx for s in data['data_samples']]
        before = {k: v.clone() for k, v in module.state_dict().items()}
        out = real(module, run_forward, data, optim_wrapper, wrapper)
        snapshots[tuple(idx)] = (before, {
            k: v.clone()
            for k, v in module.state_dict().items()
        })
        return out

    monkeypatch.setattr(nonfinite_loss, 'checked_train_step', spy)
    runner.train()
    before, after = snapshots[(4, 5)]
    for key in before:  # the NaN step changed nothing
        assert torch.equal(before[key], after[key])
    before, after = snapshots[(6, 7)]  # the next step trained normally
    assert not torch.equal(before['fc.weight'], after['fc.weight'])
    assert torch.isfinite(model.fc.weight).all()
    assert runner.message_hub.get_info('nonfinite_skipped') == 1
    # The skipped step's NaN is not in the logged history: the smoothed
    # 'loss' of the next log lines stays a number.
    logged, _ = runner.message_hub.get_scalar('train/loss').data
    assert len(logged) == 4 - 1 and np.isfinite(logged).all()


def test_bad_policy(tmp_path):
    runner = make_runner(str(tmp_path), max_epochs=1, nonfinite_loss='ignore')
    with pytest.raises(ValueError, match="one of \\('raise', 'skip'\\)"):
        runner.train()


def test_imphmr_accepts_the_policy():
    from mmhuman_imphmr.engine import NonFiniteLossMixin
    from mmhuman_imphmr.models.estimators.imphmr import (DEFAULT_TRAIN_CFG,
                                                         ImpHMR)
    assert issubclass(ImpHMR, NonFiniteLossMixin)
    assert DEFAULT_TRAIN_CFG['nonfinite_loss'] == 'raise'


def test_single_term_named_loss_is_named():
    # parse_losses returns the total under 'loss' as well: a model whose only
    # term is called 'loss' must not be reported as "(on another rank)".
    from mmengine.model import BaseModel
    from mmengine.optim import OptimWrapper

    from mmhuman_imphmr.engine import checked_train_step

    class OneTerm(BaseModel):

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return dict(loss=self.w * inputs.sum())

    model = OneTerm()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    data = dict(inputs=torch.tensor([float('nan')]), data_samples=None)
    with pytest.raises(
            NonFiniteLossError, match=r"non-finite terms \['loss'\]"):
        checked_train_step(model, model._run_forward, data, wrapper)
    assert model.w.item() == 1.
