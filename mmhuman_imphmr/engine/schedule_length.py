"""Parameter schedules that follow the length of training.

Two ways a schedule and the train loop drift apart, and what
:class:`~mmhuman_imphmr.engine.FaultTolerantRunner` does about each:

1. **Build**: a config writes ``CosineAnnealingLR(T_max=max_epochs)`` with a
   Python variable, and ``--cfg-options train_cfg.max_epochs=20`` changes the
   loop but not ``T_max``: the lr would reach its minimum at epoch 10 and
   climb back. A scheduler **without an explicit** ``end`` runs to the end of
   training (MMEngine's default), so its ``T_max`` is set to that span
   (:func:`follow_train_loop`, with a warning naming the scheduler, the old
   and the new value). A scheduler with an explicit ``end`` is kept as
   written (that is how to keep a fixed length on purpose); one that ends
   after training does gets a warning.
2. **Resume**: a checkpoint stores its schedulers' whole state, ``end`` and
   ``T_max`` included, and MMEngine restores it over the config's: resuming
   with a larger ``max_epochs`` would keep the old end and freeze the lr
   there. When the restored lengths differ from the config's,
   :func:`follow_schedule_after_resume` lays the config's schedule over the
   whole run and sets the schedulers and the optimizer's values to what a run
   planned with this config from the start has at the resumed iteration (the
   schedule is replayed on a stand-in optimizer). The log states the lr
   before and after. With unchanged lengths nothing is touched, so an
   interrupted run still resumes bit for bit.

Resume with a longer schedule::

    python tools/train.py CONFIG --resume --cfg-options train_cfg.max_epochs=20
"""
import copy
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

Lengths = List[Tuple[str, int, int, Optional[int]]]


def _where(index: int, scheduler: dict) -> str:
    return f'param_scheduler[{index}] ({scheduler.get("type")})'


def follow_train_loop(schedulers: Union[dict, Sequence],
                      max_epochs: int,
                      max_iters: int,
                      logger=None) -> list:
    """Scheduler configs whose ``T_max`` spans the train loop.

    Args:
        schedulers (dict | list): One optimizer's scheduler config(s);
            built schedulers are passed through.
        max_epochs (int): The train loop's epochs (used when ``by_epoch``).
        max_iters (int): The train loop's iterations (otherwise).
        logger: Where to warn; None for no message.

    Returns:
        list: Copies of the configs, ``T_max`` set where it disagreed with
        the span from ``begin`` to the end of training.
    """
    items = [schedulers] if isinstance(schedulers, dict) else list(schedulers)
    out = []
    for index, scheduler in enumerate(items):
        if not isinstance(scheduler, dict):
            out.append(scheduler)
            continue
        scheduler = copy.deepcopy(scheduler)
        by_epoch = scheduler.get('by_epoch', True)
        loop_end = max_epochs if by_epoch else max_iters
        unit = 'train_cfg.max_epochs' if by_epoch else 'train_cfg.max_iters'
        if 'end' in scheduler:
            if scheduler['end'] > loop_end and logger is not None:
                logger.warning(
                    f'{_where(index, scheduler)} ends at {scheduler["end"]} '
                    f'but training stops at {unit}={loop_end}: the schedule '
                    f'will not finish')
        elif scheduler.get('T_max') is not None:
            span = loop_end - scheduler.get('begin', 0)
            if scheduler['T_max'] != span:
                if logger is not None:
                    logger.warning(
                        f'{_where(index, scheduler)}: T_max='
                        f'{scheduler["T_max"]} but the scheduler runs to the '
                        f'end of training ({unit}={loop_end}, no `end` '
                        f'given); T_max set to {span} so the schedule ends '
                        f'at the last {"epoch" if by_epoch else "iteration"}'
                        f'. Give `end` explicitly to keep another length.')
                scheduler['T_max'] = span
        out.append(scheduler)
    return out


def schedule_lengths(schedulers) -> Optional[Lengths]:
    """``(type, begin, end, T_max)`` of built schedulers; None for anything
    else (not built yet, one list per optimizer)."""
    if not isinstance(schedulers, (list, tuple)) or not all(
            isinstance(s, _ParamScheduler) for s in schedulers):
        return None
    return [(type(s).__name__, s.begin, s.end, getattr(s, 'T_max', None))
            for s in schedulers]


def _replay(runner, scheduler_cfgs, optimizer) -> Tuple[list, list]:
    """Build ``scheduler_cfgs`` on a stand-in of ``optimizer`` at its initial
    values and step them as ``ParamSchedulerHook`` would have up to the
    runner's epoch and iteration. Returns the schedulers and the stand-in's
    param groups."""
    from mmengine.runner import Runner
    groups = []
    for group in optimizer.param_groups:
        copy_ = {
            k: copy.deepcopy(v)
            for k, v in group.items() if k != 'params'
        }
        for key in list(copy_):
            if key.startswith('initial_'):
                copy_[key[len('initial_'):]] = copy_[key]
        copy_['params'] = [torch.zeros(1, requires_grad=True)]
        groups.append(copy_)
    stand_in = torch.optim.Optimizer(groups, {})
    cfgs = follow_train_loop(
        scheduler_cfgs, runner.max_epochs, runner.max_iters, logger=None)
    with warnings.catch_warnings():
        # "scheduler.step() before optimizer.step()": nothing is optimised.
        warnings.simplefilter('ignore')
        schedulers = Runner._build_param_scheduler(runner, cfgs, stand_in)
        epoch_length = len(runner.train_dataloader)
        done = 0
        for _ in range(runner.epoch):
            for _ in range(epoch_length):
                if done < runner.iter:
                    for s in schedulers:
                        if not s.by_epoch:
                            s.step()
                    done += 1
            for s in schedulers:
                if s.by_epoch:
                    s.step()
        for _ in range(runner.iter - done):
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
    return schedulers, stand_in.param_groups


def follow_schedule_after_resume(runner, planned: Optional[Lengths]) -> bool:
    """Replace a resumed schedule of another length by the config's.

    Args:
        runner: The runner right after ``resume`` restored the checkpoint's
            schedulers.
        planned: :func:`schedule_lengths` of the schedulers the runner
            built from its config before the checkpoint was loaded.

    Returns:
        bool: Whether the schedule was replaced.
    """
    restored = schedule_lengths(runner.param_schedulers)
    if planned is None or restored is None or planned == restored:
        return False
    cfgs = runner.cfg.get('param_scheduler', None) if runner.cfg else None
    optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
    if not isinstance(cfgs, (list, tuple, dict)) or optimizer is None:
        runner.logger.warning(
            f'resumed schedule {restored} differs from the config\'s '
            f'{planned}; kept as in the checkpoint (only one optimizer with '
            f'a list of scheduler configs is re-planned)')
        return False
    replayed, groups = _replay(runner, cfgs, optimizer)
    names = {s.param_name for s in replayed}
    if 'momentum' in names:
        names.add('betas')  # Adam-style momentum schedulers write betas
    before = [g.get('lr') for g in optimizer.param_groups]
    for real, replay in zip(runner.param_schedulers, replayed):
        real.load_state_dict(replay.state_dict())
    for real, replay in zip(optimizer.param_groups, groups):
        for name in names:
            if name in replay:
                real[name] = replay[name]
    after = [g.get('lr') for g in optimizer.param_groups]
    changes = '; '.join(f'{p[0]} end {r[2]} -> {p[2]}, T_max {r[3]} -> {p[3]}'
                        for p, r in zip(planned, restored) if p != r)
    runner.logger.warning(
        f'The checkpoint was trained on another schedule ({changes}, in '
        f'steps of each scheduler). It now follows the config (train_cfg: '
        f'max_epochs={runner.max_epochs}, max_iters={runner.max_iters}) as '
        f'if the run had been planned with it from the start: lr '
        f'{_fmt(before)} -> {_fmt(after)} at iteration {runner.iter}.')
    return True


def _fmt(values: Sequence) -> str:
    values = [v for v in values if v is not None]
    if values and all(v == values[0] for v in values):
        return f'{values[0]:.3g}'
    return '[' + ', '.join(f'{v:.3g}' for v in values) + ']'
