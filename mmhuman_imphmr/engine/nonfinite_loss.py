"""Stop (or skip) a training step whose loss is NaN/Inf before it updates.

A hook after the iteration is too late: ``optim_wrapper.update_params`` has
already written NaNs into the weights and the optimiser's moments. The check
runs between the loss and the update, where the data batch is at hand, so the
error names the samples that produced it:

* :class:`NonFiniteLossMixin` gives an estimator a ``train_step`` with the
  check (the single-process path of MMEngine's loop calls
  ``model.train_step``);
* :class:`NonFiniteCheckDDP` does the same for the distributed path, where
  MMEngine's ``MMDistributedDataParallel.train_step`` runs instead of the
  module's; select it with
  ``model_wrapper_cfg = dict(type='NonFiniteCheckDDP')``.

The policy is ``train_cfg.nonfinite_loss`` of the estimator: ``'raise'``
(default) raises :class:`NonFiniteLossError`; ``'skip'`` logs a warning with
the sample ids, counts the step in the message hub
(``train/nonfinite_skipped``) and leaves weights and optimiser untouched.
Ranks agree on the decision (all-reduce of the flag), so a skip never leaves
DDP waiting for a backward pass on one rank.
"""
from typing import Callable, Dict, List, Sequence, Union

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS

POLICIES = ('raise', 'skip')


class NonFiniteLossError(FloatingPointError):
    """The loss of a training batch is NaN or Inf."""


def describe_batch(data_samples: Sequence, limit: int = 16) -> str:
    """``dataset:sample_idx (img_path)`` of the first ``limit`` samples."""
    items: List[str] = []
    for sample in list(data_samples or [])[:limit]:
        meta = getattr(sample, 'metainfo',
                       sample if isinstance(sample, dict) else {})
        items.append(f"{meta.get('dataset_name', '?')}:"
                     f"{meta.get('sample_idx', '?')} "
                     f"({meta.get('img_path', '?')})")
    more = len(data_samples or []) - limit
    return ', '.join(items) + (f' ... (+{more} more)' if more > 0 else '')


def checked_train_step(module,
                       run_forward: Callable,
                       data: Union[dict, tuple, list],
                       optim_wrapper: OptimWrapper,
                       wrapper=None) -> Dict[str, torch.Tensor]:
    """MMEngine's train step with a finiteness check before the update.

    Args:
        module (BaseModel): The estimator (owns ``data_preprocessor``,
            ``parse_losses`` and ``train_cfg``).
        run_forward (Callable): ``(data, mode) -> losses`` (the model's or the
            DDP wrapper's ``_run_forward``).
        data (dict | tuple | list): The batch from the dataloader.
        optim_wrapper (OptimWrapper): Updates the parameters.
        wrapper (nn.Module, optional): The DDP wrapper, given to
            ``optim_context`` (gradient accumulation uses its ``no_sync``).

    Returns:
        dict: Log variables; for a skipped step only the finite ones (the
        skip itself is counted in ``train/nonfinite_skipped``).
    """
    policy = (getattr(module, 'train_cfg', None)
              or {}).get('nonfinite_loss', 'raise')
    if policy not in POLICIES:
        raise ValueError(f'train_cfg.nonfinite_loss must be one of '
                         f'{POLICIES}, found {policy!r}')
    with optim_wrapper.optim_context(wrapper or module):
        data = module.data_preprocessor(data, True)
        losses = run_forward(data, mode='loss')
    parsed, log_vars = module.parse_losses(losses)
    bad = (~torch.isfinite(parsed.detach())).float().reshape(1)
    if get_world_size() > 1:
        all_reduce(bad)  # every rank takes the same branch
    if bad.item() == 0:
        optim_wrapper.update_params(parsed)
        return log_vars
    samples = data.get('data_samples') if isinstance(data, dict) else None
    terms = [
        k for k, v in log_vars.items()
        if k != 'loss' and not torch.isfinite(torch.as_tensor(v)).all()
    ]
    if not terms and not torch.isfinite(parsed.detach()):
        terms = ['loss']  # a model whose single term is called 'loss'
    hub = MessageHub.get_current_instance()
    where = (f'iteration {hub.get_info("iter", "?")}, non-finite terms '
             f'{terms or ["(on another rank)"]}, batch samples '
             f'[{describe_batch(samples)}]')
    if policy == 'raise':
        raise NonFiniteLossError(
            f'non-finite training loss ({float(parsed.detach())}) at {where}. '
            f'Check these samples\' annotations, lower the learning rate, or '
            f'set model.train_cfg.nonfinite_loss="skip" to skip such steps.')
    skipped = int(hub.get_info('nonfinite_skipped', 0)) + 1
    hub.update_info('nonfinite_skipped', skipped)
    hub.update_scalar('train/nonfinite_skipped', skipped)
    print_log(
        f'skipping a step with non-finite loss ({skipped} so far) at '
        f'{where}',
        logger='current',
        level=30)
    optim_wrapper.zero_grad()
    # The runner averages the logged values over a window of iterations: one
    # NaN would show as 'loss: nan' for the next 50 log lines although those
    # steps trained. The skip is logged above and counted in the hub.
    return {
        k: v
        for k, v in log_vars.items()
        if torch.isfinite(torch.as_tensor(v)).all()
    }


class NonFiniteLossMixin:
    """Estimator mixin: ``train_step`` refuses NaN/Inf losses (see module).

    Put it before ``BaseModel`` in the bases; reads
    ``self.train_cfg['nonfinite_loss']``.
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        return checked_train_step(self, self._run_forward, data, optim_wrapper)


@MODEL_WRAPPERS.register_module()
class NonFiniteCheckDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` whose ``train_step`` checks the loss."""

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        return checked_train_step(
            self.module, self._run_forward, data, optim_wrapper, wrapper=self)
