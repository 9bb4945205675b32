"""ProgressHook: a bar per epoch on a terminal, nothing anywhere else."""
import io
import logging
from types import SimpleNamespace

from mmengine.runner import IterBasedTrainLoop

from mmhuman_imphmr.engine.hooks import ProgressHook
from mmhuman_imphmr.registry import HOOKS
from .toy_runner import make_runner


class FakeTTY(io.StringIO):

    def isatty(self):
        return True


def _fake_runner(epoch=1, max_epochs=3, iters=5):
    return SimpleNamespace(
        train_loop=SimpleNamespace(max_epochs=max_epochs),
        train_dataloader=[None] * iters,
        epoch=epoch,
        iter=epoch * iters,
        logger=logging.getLogger('test_progress_hook'))


def _run_epoch(hook, runner, log_at=None):
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    for i in range(len(runner.train_dataloader)):
        hook.after_train_iter(runner, i)
        if i == log_at:
            runner.logger.warning('a log line')
    hook.after_train_epoch(runner)
    hook.after_train(runner)


def _screen(text):
    """What a terminal shows: each ``\\r`` returns to column 0."""
    lines = []
    for line in text.split('\n'):
        shown = ''
        for part in line.split('\r'):
            shown = part + shown[len(part):]
        lines.append(shown.rstrip())
    return lines


def test_not_a_tty_writes_nothing(capsys):
    stream = io.StringIO()  # isatty() is False
    _run_epoch(ProgressHook(stream=stream, interval=0), _fake_runner())
    assert stream.getvalue() == ''
    # The default stream is sys.stdout, here pytest's capture (not a TTY).
    _run_epoch(ProgressHook(interval=0), _fake_runner())
    assert capsys.readouterr().out == ''


def test_tty_gets_one_bar_per_epoch_with_the_counts():
    stream = FakeTTY()
    _run_epoch(ProgressHook(stream=stream, interval=0), _fake_runner())
    out = stream.getvalue()
    for done in range(1, 6):
        assert f'| {done}/5 [' in out
    screen = _screen(out)
    assert screen[-1] == ''  # the finished bar ends with a newline
    (bar, ) = screen[:-1]
    assert bar.startswith('Epoch 2/3 100%|' + '#' * 20 + '| 5/5 [')
    assert bar.endswith('it/s]') or bar.endswith('s/it]')


def test_throttled_redraws_still_show_the_last_iteration():
    stream = FakeTTY()
    _run_epoch(ProgressHook(stream=stream, interval=3600), _fake_runner())
    out = stream.getvalue()
    assert '| 1/5 [' in out and '| 5/5 [' in out
    assert '| 3/5 [' not in out


def test_iter_based_loop_is_one_bar_of_max_iters():
    loop = object.__new__(IterBasedTrainLoop)  # only max_iters is read
    loop._max_iters = 8
    # resumed at iteration 5: the bar goes on from 5 to 8
    runner = SimpleNamespace(
        train_loop=loop, iter=5, logger=logging.getLogger('test_progress'))
    hook = ProgressHook(stream=FakeTTY(), interval=0)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    for i in range(5, 8):
        hook.after_train_iter(runner, i)
    hook.after_train_epoch(runner)
    hook.after_train(runner)
    (bar, _) = _screen(hook.stream.getvalue())
    assert bar.startswith('Iter 100%|') and '| 8/8 [' in bar


def test_log_lines_start_on_a_clean_line():
    stream = FakeTTY()
    runner = _fake_runner()
    handler = logging.StreamHandler(stream)
    runner.logger.addHandler(handler)
    try:
        _run_epoch(ProgressHook(stream=stream, interval=0), runner, log_at=2)
    finally:
        runner.logger.removeHandler(handler)
    screen = _screen(stream.getvalue())
    assert screen[0] == 'a log line'  # the bar of 3/5 was erased first
    assert screen[1].startswith('Epoch 2/3 100%|')
    # The filter is gone after training: no more erasing.
    assert not runner.logger.filters


def test_in_a_real_run_from_the_registry(tmp_path):
    # The runner copies hook configs (and a stream in one): pass the hook.
    hook = HOOKS.build(dict(type='ProgressHook', interval=0))
    stream = hook.stream = FakeTTY()
    runner = make_runner(str(tmp_path), max_epochs=2, custom_hooks=[hook])
    runner.train()
    bars = [line for line in _screen(stream.getvalue()) if line]
    assert len(bars) == 2
    assert bars[0].startswith('Epoch 1/2 100%|') and '| 4/4 [' in bars[0]
    assert bars[1].startswith('Epoch 2/2 100%|') and '| 4/4 [' in bars[1]
