"""A one-line progress bar per training epoch, on an interactive terminal."""
import logging
import sys
import time
from typing import Optional, TextIO

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from mmhuman_imphmr.registry import HOOKS


class _ClearLine(logging.Filter):
    """Clears the bar before the runner's logger prints a line."""

    def __init__(self, hook: 'ProgressHook') -> None:
        super().__init__()
        self.hook = hook

    def filter(self, record: logging.LogRecord) -> bool:
        self.hook.clear()
        return True


@HOOKS.register_module()
class ProgressHook(Hook):
    """Draw a tqdm-style bar of the training epoch on the terminal::

        Epoch 3/10  45%|#########           | 180/400 [00:42<00:51, 4.28it/s]

    Only when ``stream`` (default: ``sys.stdout``) is a TTY and only on the
    main process; otherwise the hook writes nothing, so log files, CI and
    redirected output stay as the logger writes them. The bar is redrawn
    after each iteration (at most every ``interval`` seconds, and at the
    last one) and erased before any line of the runner's logger; the
    finished bar stays, below the epoch's last log line: one bar line per
    epoch. An ``IterBasedTrainLoop`` run is one bar of ``max_iters``
    iterations.

    Args:
        stream (TextIO, optional): Where to draw. Defaults to None:
            ``sys.stdout`` at the start of training.
        interval (float): Least seconds between two redraws. Defaults to 0.1.
        bar_width (int): Characters of the bar itself. Defaults to 20.
    """

    priority = 'VERY_LOW'  # after the hooks that log at this iteration

    def __init__(self,
                 stream: Optional[TextIO] = None,
                 interval: float = 0.1,
                 bar_width: int = 20) -> None:
        self.stream = stream
        self.interval = interval
        self.bar_width = bar_width
        self._out: Optional[TextIO] = None
        self._drawn = 0  # length of the bar on screen; 0: none
        self._filter = _ClearLine(self)
        self._logger = None
        self._label, self._total, self._done, self._start_done = '', 0, 0, 0
        self._start = 0.0
        self._last: Optional[float] = None

    # -- terminal -------------------------------------------------------
    def _active(self) -> bool:
        return self._out is not None

    def clear(self) -> None:
        """Erase the bar (if drawn), leaving the cursor at column 0."""
        if self._drawn:
            self._out.write('\r' + ' ' * self._drawn + '\r')
            self._out.flush()
            self._drawn = 0

    def _draw(self, text: str) -> None:
        pad = max(self._drawn - len(text), 0)
        self._out.write('\r' + text + ' ' * pad)
        self._out.flush()
        self._drawn = len(text)

    def format(self, done: int, total: int, elapsed: float,
               rate_done: int) -> str:
        """The bar line: ``<label> pct%|###   | done/total [el<left, r]``."""
        frac = min(done / total, 1.0) if total else 0.0
        fill = int(frac * self.bar_width)
        bar = '#' * fill + ' ' * (self.bar_width - fill)
        rate = rate_done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else None
        if 0 < rate < 1:
            speed = f'{1 / rate:.2f}s/it'
        else:
            speed = f'{rate:.2f}it/s'
        return (f'{self._label} {100 * frac:3.0f}%|{bar}| {done}/{total} '
                f'[{_clock(elapsed)}<{_clock(left)}, {speed}]')

    # -- hook -----------------------------------------------------------
    def before_train(self, runner) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        try:
            tty = bool(out.isatty())
        except (AttributeError, ValueError):  # no isatty, or closed
            tty = False
        self._out = out if tty and is_main_process() else None
        if self._active():
            self._logger = runner.logger
            self._logger.addFilter(self._filter)

    def before_train_epoch(self, runner) -> None:
        if not self._active():
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            self._label = 'Iter'
            self._total = loop.max_iters
            self._start_done = runner.iter  # a resumed run starts there
        else:
            self._label = f'Epoch {runner.epoch + 1}/{loop.max_epochs}'
            self._total = len(runner.train_dataloader)
            self._start_done = 0
        self._start = time.perf_counter()
        self._last = None
        self._done = self._start_done

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not self._active():
            return
        self._done = batch_idx + 1
        now = time.perf_counter()
        if (self._last is not None and now - self._last < self.interval
                and self._done < self._total):
            return
        self._last = now
        self._draw(
            self.format(self._done, self._total, now - self._start,
                        self._done - self._start_done))
        if self._done >= self._total:
            self._finish()

    def _finish(self) -> None:
        self._out.write('\n')  # keep the bar; later lines go below it
        self._out.flush()
        self._drawn = 0

    def after_train_epoch(self, runner) -> None:
        # An epoch stopped early (``stop_training``) keeps its partial bar.
        if self._active() and self._drawn:
            self._finish()

    def before_val_epoch(self, runner) -> None:
        # IterBasedTrainLoop validates inside its one training "epoch".
        if self._active():
            self.clear()

    def after_train(self, runner) -> None:
        if self._active():
            self.clear()
            self._logger.removeFilter(self._filter)
        self._out = None


def _clock(seconds: Optional[float]) -> str:
    if seconds is None:
        return '?'
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f'{hours}:{minutes:02d}:{secs:02d}'
            if hours else f'{minutes:02d}:{secs:02d}')
