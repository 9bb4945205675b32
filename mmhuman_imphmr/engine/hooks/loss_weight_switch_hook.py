"""Change a loss term's weight at given epochs (a loss-weight schedule)."""
from typing import Dict, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmhuman_imphmr.registry import HOOKS


@HOOKS.register_module()
class LossWeightSwitchHook(Hook):
    """Set ``model.head.losses[term].loss_weight`` from an epoch schedule.

    The same idea as mmdet's ``YOLOXModeSwitchHook`` / mmengine's
    ``PipelineSwitchHook`` (switch a part of the recipe at an epoch), for a
    loss weight. Before every training epoch each scheduled term gets the
    weight of the last milestone at or before that epoch (0-based, as
    ``runner.epoch``), so a resumed run sets the same weight as the
    uninterrupted one and nothing needs to be saved in the checkpoint.

    Example: the 3D-joint term off for the first 4 epochs, then the paper's
    weight::

        dict(type='LossWeightSwitchHook',
             schedule=dict(keypoints3d=[(0, 0.), (4, 300.)]))

    Args:
        schedule (dict): term name -> ``[(epoch, weight), ...]``. The first
            milestone must be epoch 0; epochs strictly increasing.
    """

    priority = 'NORMAL'

    def __init__(self, schedule: Dict[str, Sequence[Tuple[int,
                                                          float]]]) -> None:
        if not isinstance(schedule, dict) or not schedule:
            raise ValueError('LossWeightSwitchHook: schedule must be a '
                             'non-empty dict term -> [(epoch, weight), ...], '
                             f'found {schedule!r}')
        self.schedule = {}
        for term, steps in schedule.items():
            bad = ValueError(
                f'LossWeightSwitchHook: schedule[{term!r}] must be '
                '[(epoch, weight), ...] starting at epoch 0 with '
                f'increasing epochs, found {steps!r}')
            try:
                steps = [(int(e), float(w)) for e, w in steps]
            except (TypeError, ValueError):  # not pairs of numbers
                raise bad from None
            epochs = [e for e, _ in steps]
            if (not steps or epochs[0] != 0
                    or any(b <= a for a, b in zip(epochs, epochs[1:]))):
                raise bad
            self.schedule[term] = steps

    def before_run(self, runner) -> None:
        losses = self._losses(runner)
        missing = sorted(set(self.schedule) - set(losses.keys()))
        if missing:
            raise KeyError(
                f'LossWeightSwitchHook: no loss term(s) {missing} in '
                f'model.head.losses (found {sorted(losses.keys())})')

    def before_train_epoch(self, runner) -> None:
        losses = self._losses(runner)
        for term, steps in self.schedule.items():
            weight = [w for e, w in steps if e <= runner.epoch][-1]
            if losses[term].loss_weight != weight:
                runner.logger.info(
                    f'LossWeightSwitchHook: epoch {runner.epoch + 1}: '
                    f'{term} loss_weight {losses[term].loss_weight:g} -> '
                    f'{weight:g}')
                losses[term].loss_weight = weight

    @staticmethod
    def _losses(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        return model.head.losses
