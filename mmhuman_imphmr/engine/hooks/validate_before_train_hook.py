"""Validate the untrained model once, so a curve starts at epoch 0."""
from mmengine.hooks import Hook

from mmhuman_imphmr.registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop once before the first training epoch.

    The quick start reports how far training moved PA-MPJPE from the
    untrained model's; this hook makes that starting point part of the same
    log (``vis_data/scalars.json``, step 0) instead of a separate run. It
    does nothing when a run resumes (``runner.epoch > 0``) or has no
    validation loop.

    Args:
        priority (str): Runs after every other ``before_train`` (the
            checkpoint hook sets up its file backend there, and it saves a
            "best" checkpoint after this validation too). Defaults to
            'LOWEST'.
    """

    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        if runner.epoch > 0 or runner.val_loop is None:
            return
        runner.logger.info('Validating the untrained model (epoch 0)')
        runner.val_loop.run()
