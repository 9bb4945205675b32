"""Validate the untrained model once: the reference point a curve starts at."""
import contextlib
from typing import Dict, Iterator, List, Sequence

from mmengine.hooks import Hook

from mmhuman_imphmr.registry import HOOKS

# Hooks whose ``after_val_epoch`` turns the metrics into a decision about
# training: CheckpointHook records the best score and writes best_*.pth,
# EarlyStoppingHook counts validations without improvement,
# ParamSchedulerHook steps metric-driven schedulers (ReduceOnPlateau).
SCORE_HOOKS = ('CheckpointHook', 'EarlyStoppingHook', 'ParamSchedulerHook')
REFERENCE_INFO_KEY = 'untrained_reference'


def _no_after_val_epoch(runner, metrics=None) -> None:
    """Stands in for a score hook's ``after_val_epoch`` during the
    reference validation."""


@contextlib.contextmanager
def _muted_after_val_epoch(hooks: Sequence[Hook]) -> Iterator[None]:
    """Shadow ``after_val_epoch`` of ``hooks`` by a no-op (an instance
    attribute, so the class and every other hook are untouched); restore
    it even if the validation raises."""
    missing = object()
    saved = [(hook, hook.__dict__.get('after_val_epoch', missing))
             for hook in hooks]
    for hook, _ in saved:
        hook.after_val_epoch = _no_after_val_epoch
    try:
        yield
    finally:
        for hook, old in saved:
            if old is missing:
                del hook.__dict__['after_val_epoch']
            else:
                hook.after_val_epoch = old


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Validate the untrained model once, as a reference, before training.

    The quick start reports how far training moved PA-MPJPE from the
    untrained model's; this hook puts that starting point in the same log
    (the ``Epoch(val) [0]`` line and ``vis_data/scalars.json`` step 0,
    under the same keys as every later validation, so the curve starts at
    epoch 0) instead of a separate run.

    The reference is **not an epoch of training and never a candidate for
    "best"**: an untrained model can score better than a trained one (a
    dead feature field predicts one mean-ish mesh, see
    :class:`~mmhuman_imphmr.evaluation.MeshMetric`), and before this hook
    kept it out, ``CheckpointHook(save_best=...)`` could keep that model as
    ``best_pa_mpjpe_epoch_0.pth``. While the reference validation runs, the
    ``after_val_epoch`` of the hooks named in ``score_hooks`` (instances of
    those classes or of subclasses, e.g. ``AtomicCheckpointHook``) does
    nothing: no best score is recorded, no best checkpoint written, no
    early-stopping count or plateau step made. Every other hook sees a
    normal validation (RuntimeInfoHook / LoggerHook log it; EMAHook's
    swap-in/swap-out pair stays paired; the visualisation hook draws it).

    The log says what the numbers are. Before: ``Validating the untrained
    model (reference point, not a training epoch; not a candidate for best
    checkpoint; ignored by ['AtomicCheckpointHook', 'ParamSchedulerHook'])``;
    then LoggerHook's usual ``Epoch(val) [0][N/N]  pa_mpjpe: ...``; after:
    ``Untrained reference (before training, epoch 0): pa_mpjpe: 126.2000
    ...``. The scalar metrics are also kept in the message hub's runtime
    info under ``'untrained_reference'`` (saved in the checkpoints'
    ``message_hub``).

    Does nothing when a run resumes (``runner.epoch > 0``) or has no
    validation loop.

    Args:
        score_hooks (Sequence[str]): Class names (matched against each
            hook's class hierarchy) whose ``after_val_epoch`` must not see
            the reference. Defaults to :data:`SCORE_HOOKS`.

    Note:
        ``priority`` is 'LOWEST': the reference runs after every other
        ``before_train`` (e.g. the visualiser's and the checkpoint hook's
        setup).
    """

    priority = 'LOWEST'

    def __init__(self, score_hooks: Sequence[str] = SCORE_HOOKS) -> None:
        self.score_hooks = tuple(score_hooks)

    def _score_hooks(self, runner) -> List[Hook]:
        return [
            hook for hook in runner.hooks if hook is not self and any(
                cls.__name__ in self.score_hooks for cls in type(hook).__mro__)
        ]

    def before_train(self, runner) -> None:
        if runner.epoch > 0 or runner.val_loop is None:
            return
        muted = self._score_hooks(runner)
        runner.logger.info(
            'Validating the untrained model (reference point, not a '
            'training epoch; not a candidate for best checkpoint; ignored '
            f'by {sorted({type(h).__name__ for h in muted})})')
        with _muted_after_val_epoch(muted):
            metrics = runner.val_loop.run()
        scalars = self._scalars(metrics or {})
        # Plain floats only: the message hub is saved in every checkpoint
        # and resuming loads it with torch.load(weights_only=True).
        runner.message_hub.update_info(REFERENCE_INFO_KEY, scalars)
        text = '  '.join(f'{k}: {v:.4f}' for k, v in scalars.items())
        runner.logger.info(
            f'Untrained reference (before training, epoch 0): {text}')

    @staticmethod
    def _scalars(metrics: Dict) -> Dict[str, float]:
        out = {}
        for key, value in metrics.items():
            try:
                out[str(key)] = float(value)
            except (TypeError, ValueError):
                continue  # non-scalar results are not part of the curve
        return out
