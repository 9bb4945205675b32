"""Test helper imported by the kill-and-resume config (custom_imports)."""
import os
import signal

from mmengine.hooks import Hook

from mmhuman_imphmr.registry import HOOKS


@HOOKS.register_module()
class SigkillAtIterHook(Hook):
    """SIGKILL the own process before global iteration ``kill_iter``."""

    def __init__(self, kill_iter: int) -> None:
        self.kill_iter = kill_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.kill_iter:
            os.kill(os.getpid(), signal.SIGKILL)
