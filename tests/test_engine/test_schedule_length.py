"""Parameter schedules follow train_cfg.max_epochs (engine/schedule_length.py).

The runs train the tiny model of tests/test_tools/tiny_runs.py (2 iterations
per epoch) with the quick-start config's cosine schedule, in this process.
"""
import copy
import math
import os.path as osp
import sys

import pytest
from mmengine.config import Config, DictAction

from mmhuman_imphmr.engine.launch import build_runner
from mmhuman_imphmr.engine.schedule_length import follow_train_loop

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_tools'))
from tiny_runs import lr_hook, tiny_config  # noqa: E402

QUICK_START = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
ITERS_PER_EPOCH = 2


def _quick_start_schedule(max_epochs):
    """The quick-start config's optimizer and scheduler, with
    ``--cfg-options train_cfg.max_epochs=<max_epochs>`` merged the way the
    tools merge it."""
    cfg = Config.fromfile(QUICK_START)
    action = DictAction(option_strings=['--cfg-options'], dest='o')
    namespace = type('N', (), {})()
    action(None, namespace, [f'train_cfg.max_epochs={max_epochs}'])
    cfg.merge_from_dict(namespace.o)
    return cfg


def _cosine_scheduler(cfg):
    """The quick start's cosine decay: the scheduler that follows the length
    of training. Its warm-up (LinearLR) has an explicit ``end`` of 100
    iterations and is kept as written (see the last test), so it is left out
    of the runs below, whose tiny data has 2 iterations per epoch."""
    (cosine, ) = [
        s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'
    ]
    assert 'end' not in cosine
    return cosine


def _run(root, work_dir, max_epochs, resume=False):
    quick = _quick_start_schedule(max_epochs)
    cfg = tiny_config(root, max_epochs=max_epochs)
    cfg.train_cfg = dict(quick.train_cfg, val_interval=max_epochs + 1)
    cfg.custom_hooks = [dict(type='RecordLrHook')]
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=3e-4))
    cfg.param_scheduler = [copy.deepcopy(_cosine_scheduler(quick))]
    cfg.work_dir = work_dir
    cfg.resume = resume
    runner = build_runner(cfg)
    runner.train()
    return runner, lr_hook(runner).lrs, runner.optim_wrapper.get_lr()['lr'][0]


def _cosine(step, total, base=3e-4, eta_min=3e-6):
    return eta_min + (base - eta_min) * (1 +
                                         math.cos(math.pi * step / total)) / 2


def test_doubled_max_epochs_gives_a_cosine_to_the_last_epoch(tmp_path):
    own = Config.fromfile(QUICK_START).train_cfg.max_epochs
    doubled = 2 * own
    quick = _quick_start_schedule(doubled)
    scheduler = _cosine_scheduler(quick)
    # The config's T_max is its own max_epochs, not the merged doubled one.
    assert quick.train_cfg.max_epochs == doubled and scheduler.T_max == own
    runner, lrs, last = _run(str(tmp_path), str(tmp_path / 'w'), doubled)
    total = doubled * ITERS_PER_EPOCH
    assert len(lrs) == total
    # One half cosine over all the iterations (iteration-based, since the
    # config converts it), falling at every step; MMEngine's schedulers stop
    # at `end`, so the last iteration runs at step total - 1 (just above
    # eta_min) and the lr stays there. The bug: minimum at the config's own
    # last epoch, then back up to 3e-4.
    assert lrs == pytest.approx([_cosine(i, total) for i in range(total)],
                                rel=1e-6)
    assert all(b < a for a, b in zip(lrs, lrs[1:]))
    assert last == lrs[-1] < 3.5e-6
    (built, ) = runner.param_schedulers
    assert built.end == total and built.T_max == total


def test_resume_with_a_longer_schedule_follows_the_longer_run(tmp_path):
    # 2 epochs, then --resume with max_epochs=4: from the resumed iteration
    # on, the lr is the one of a run planned for 4 epochs from the start.
    fresh, fresh_lrs, fresh_last = _run(
        str(tmp_path), str(tmp_path / 'fresh'), 4)
    short, short_lrs, short_last = _run(
        str(tmp_path), str(tmp_path / 'long'), 2)
    # The short run ended at its own minimum (step 3 of 4).
    assert short_last == pytest.approx(_cosine(3, 4), rel=1e-6)
    longer, resumed_lrs, last = _run(
        str(tmp_path), str(tmp_path / 'long'), 4, resume=True)
    assert longer.iter == 8 and len(resumed_lrs) == 4
    assert resumed_lrs == pytest.approx(fresh_lrs[4:], rel=1e-6)
    assert last == pytest.approx(fresh_last, rel=1e-6)
    assert last == pytest.approx(_cosine(7, 8), rel=1e-6)
    # The lr jumped back up at the resume (the 4-epoch plan at iteration 4).
    assert resumed_lrs[0] == pytest.approx(_cosine(4, 8), rel=1e-6)


def test_explicit_end_is_kept_and_an_overlong_one_is_reported():
    messages = []

    class Logger:

        def warning(self, msg):
            messages.append(msg)

    schedulers = [
        dict(type='LinearLR', start_factor=0.1, end=2, by_epoch=True),
        dict(
            type='CosineAnnealingLR', T_max=8, begin=2, end=10, by_epoch=True),
        dict(type='CosineAnnealingLR', T_max=5, begin=2, by_epoch=True)
    ]
    out = follow_train_loop(
        schedulers, max_epochs=6, max_iters=60, logger=Logger())
    assert out[:2] == schedulers[:2]  # an explicit end is the user's choice
    assert out[2]['T_max'] == 4  # begin 2 .. end of training at epoch 6
    assert schedulers[2]['T_max'] == 5  # the config is not modified
    assert len(messages) == 2
    assert 'param_scheduler[1] (CosineAnnealingLR) ends at 10 but training ' \
        'stops at train_cfg.max_epochs=6' in messages[0]
    assert 'param_scheduler[2] (CosineAnnealingLR): T_max=5' in messages[1] \
        and 'T_max set to 4' in messages[1]
