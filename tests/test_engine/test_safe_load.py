"""Weights-only loading of MMEngine checkpoints; malicious files refused."""
import os.path as osp

import pytest
import torch
from torch import nn

from mmhuman_imphmr.engine import (CheckpointMismatchError,
                                   load_state_dict_checked,
                                   safe_load_checkpoint)
from .toy_runner import make_runner

MARKER = []


def _side_effect(path):
    MARKER.append(path)
    with open(path, 'w') as f:
        f.write('pwned')
    return 0


class Malicious:
    """Unpickling it would call _side_effect (arbitrary code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return _side_effect, (self.path, )


class EvilGetattr:
    """Uses builtins.getattr (which our allow-list maps to a restricted
    version) to reach something other than HistoryBuffer's statistics."""

    def __reduce__(self):
        # HistoryBuffer is allow-listed; '__subclasses__' is not one of its
        # statistics, so the restricted getattr must refuse it.
        from mmengine.logging.history_buffer import HistoryBuffer
        return getattr, (HistoryBuffer, '__subclasses__')


def test_runner_checkpoint_needs_and_gets_the_allow_list(tmp_path):
    runner = make_runner(str(tmp_path / 'w'), max_epochs=1)
    runner.train()
    path = str(tmp_path / 'w' / 'epoch_1.pth')
    # Plain weights-only torch.load refuses it: the allow-list is needed...
    with pytest.raises(Exception, match='HistoryBuffer|getattr|numpy'):
        torch.load(path, weights_only=True)
    # ...and with it the whole checkpoint loads, message hub included.
    ckpt = safe_load_checkpoint(path)
    assert set(ckpt) >= {'meta', 'state_dict', 'message_hub', 'optimizer'}
    hub = ckpt['message_hub']['log_scalars']['train/loss']
    assert type(hub).__name__ == 'HistoryBuffer' and hub.mean() > 0
    # The allow-list is scoped: torch's global default stays strict.
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)


def test_malicious_reduce_is_refused(tmp_path):
    target = str(tmp_path / 'pwned.txt')
    path = str(tmp_path / 'evil.pth')
    torch.save(
        dict(state_dict=dict(w=torch.zeros(1)), meta=Malicious(target)), path)
    with pytest.raises(RuntimeError, match='refused .*_side_effect'):
        safe_load_checkpoint(path)
    assert not osp.exists(target) and not MARKER


def test_getattr_outside_history_buffer_is_refused(tmp_path):
    path = str(tmp_path / 'evil_getattr.pth')
    torch.save(dict(meta=EvilGetattr()), path)
    with pytest.raises(
            Exception,
            match=r'refusing getattr\(mmengine.*'
            r'HistoryBuffer, \'__subclasses__\'\)'):
        safe_load_checkpoint(path)


def test_runner_load_from_refuses_malicious_file(tmp_path):
    target = str(tmp_path / 'pwned.txt')
    path = str(tmp_path / 'evil.pth')
    torch.save(
        dict(state_dict=dict(w=torch.zeros(1)), meta=Malicious(target)), path)
    runner = make_runner(str(tmp_path / 'w'), max_epochs=1, load_from=path)
    with pytest.raises(Exception, match='Unsupported global|_side_effect'):
        runner.train()
    assert not osp.exists(target)


def test_mismatching_checkpoint_names_keys(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    other = dict(model.state_dict())
    other['0.weight'] = torch.zeros(4, 2)  # shape mismatch
    other['2.weight'] = torch.zeros(1)  # unexpected
    del other['1.bias']  # missing
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_checked(model, other, source='other_arch.pth')
    msg = str(err.value)
    assert 'other_arch.pth' in msg
    assert "0.weight: checkpoint (4, 2) vs model (3, 2)" in msg
    assert "missing in checkpoint (1): ['1.bias']" in msg
    assert "unexpected in checkpoint (1): ['2.weight']" in msg
    # Non-strict loads what matches, but a shape mismatch still raises.
    del other['0.weight']
    other['0.weight'] = torch.ones(3, 2)
    msg = load_state_dict_checked(model, other, 'x.pth', strict=False)
    assert '1.bias' in msg and torch.equal(model[0].weight, torch.ones(3, 2))


def test_runner_load_from_other_architecture(tmp_path):
    src = make_runner(str(tmp_path / 'a'), max_epochs=1)
    src.train()
    runner = make_runner(
        str(tmp_path / 'b'),
        max_epochs=1,
        hidden=5,
        load_from=str(tmp_path / 'a' / 'epoch_1.pth'))
    with pytest.raises(
            CheckpointMismatchError,
            match=r'fc.weight: checkpoint \(1, 2\) vs model '
            r'\(5, 2\)'):
        runner.train()
