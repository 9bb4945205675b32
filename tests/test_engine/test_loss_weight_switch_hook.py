"""LossWeightSwitchHook: a loss weight follows its epoch schedule, also when
a run starts (resumes) in the middle of it."""
from types import SimpleNamespace

import pytest
import torch.nn as nn

from mmhuman_imphmr.engine.hooks import LossWeightSwitchHook
from mmhuman_imphmr.models.losses import Keypoint2DLoss, Keypoint3DLoss


class _Logger:

    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def _runner(epoch=0):
    head = nn.Module()
    head.losses = nn.ModuleDict({
        'keypoints2d': Keypoint2DLoss(loss_weight=300.),
        'keypoints3d': Keypoint3DLoss(loss_weight=0.)
    })
    model = nn.Module()
    model.head = head
    return SimpleNamespace(model=model, epoch=epoch, logger=_Logger())


def test_weight_follows_the_schedule_and_resume_sets_the_same():
    hook = LossWeightSwitchHook(
        schedule=dict(keypoints3d=[(0, 0.), (4, 300.), (6, 100.)]))
    runner = _runner()
    hook.before_run(runner)
    seen = []
    for epoch in range(8):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        seen.append(runner.model.head.losses['keypoints3d'].loss_weight)
    # 0-based epochs, as runner.epoch: the last milestone at or before it.
    assert seen == [0., 0., 0., 0., 300., 300., 100., 100.]
    # Two switches, each logged once with the 1-based epoch it starts.
    assert len(runner.logger.lines) == 2
    assert 'epoch 5: keypoints3d loss_weight 0 -> 300' in \
        runner.logger.lines[0]
    # Unscheduled terms are left alone.
    assert runner.model.head.losses['keypoints2d'].loss_weight == 300.
    # A run resumed at epoch 5 (model rebuilt from the config, weight 0)
    # gets the weight the uninterrupted run had there.
    resumed = _runner(epoch=5)
    hook.before_train_epoch(resumed)
    assert resumed.model.head.losses['keypoints3d'].loss_weight == 300.


def test_unknown_term_and_bad_schedules_are_named():
    hook = LossWeightSwitchHook(schedule=dict(keypoint3d=[(0, 1.)]))
    with pytest.raises(
            KeyError,
            match=r"no loss term\(s\) \['keypoint3d'\]"
            r".*found \['keypoints2d', 'keypoints3d'\]"):
        hook.before_run(_runner())
    # Also the shapes that once gave a bare TypeError: a milestone that is
    # not a pair, a schedule that is not a sequence, a weight not a number.
    for bad in ([(1, 0.)], [(0, 0.), (3, 1.), (3, 2.)], [(0, 0., 1)], [],
                [0, 300.], 300., [(0, 'high')], [(0, None)]):
        with pytest.raises(ValueError, match='keypoints3d'):
            LossWeightSwitchHook(schedule=dict(keypoints3d=bad))
    with pytest.raises(ValueError, match='non-empty dict'):
        LossWeightSwitchHook(schedule={})
