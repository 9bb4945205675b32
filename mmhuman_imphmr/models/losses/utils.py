"""Reduction shared by the losses: a per-sample masked mean.

SPIN (``train/trainer.py``) selects the labelled samples (``x[has_smpl == 1]``)
and takes ``nn.MSELoss``'s mean over what is left, returning a constant 0 when
nothing is left. Here the selection is a per-sample weight instead of boolean
indexing, which keeps shapes static (DDP-friendly) and gives the same value:

    loss = sum_n w_n * sum(err_n) / (max'(sum_n w_n) * numel(err_n))

where ``max'(s) = s if s > 0 else 1``. With 0/1 weights this is exactly the
mean over the elements of the valid samples; with no valid sample it is
``0 * (something finite)`` = 0, still connected to the prediction (its
gradient is 0, never NaN), so ``loss.backward()`` works on any batch.
"""
from typing import Optional

import torch


def weighted_sample_mean(err: torch.Tensor,
                         weight: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
    """Mean of ``err`` over its elements, samples weighted by ``weight``.

    Args:
        err (Tensor[N, ...]): Element-wise loss; must be finite where
            ``weight > 0`` (callers make it exactly 0 elsewhere).
        weight (Tensor[N], optional): Per-sample weight (usually a 0/1 mask).
            Defaults to all ones (plain mean).

    Returns:
        Tensor[]: The reduced loss (0 with a graph if every weight is 0).
    """
    n = err.shape[0]
    if n == 0 or err.numel() == 0:  # empty batch: 0, still in the graph
        return err.sum() * 0.
    per_sample = err.reshape(n, -1)
    numel = per_sample.shape[1]
    if weight is None:
        weight = err.new_ones(n)
    weight = weight.to(err.dtype).reshape(n)
    if weight.shape[0] != n:
        raise ValueError(f'sample weight has {weight.shape[0]} entries for '
                         f'{n} samples')
    total = (per_sample.sum(1) * weight).sum()
    wsum = weight.sum()
    denom = torch.where(wsum > 0, wsum, torch.ones_like(wsum)) * numel
    return total / denom


def mask_invalid_target(pred: torch.Tensor, target: torch.Tensor,
                        weight: Optional[torch.Tensor]) -> torch.Tensor:
    """Replace the targets of zero-weight samples by the (detached) prediction.

    Samples without a label may carry any placeholder (zeros, NaN) in their
    target; after this their error is exactly 0, so neither the loss nor its
    gradient can be polluted by a NaN that ``0 * NaN`` would propagate.

    Args:
        pred (Tensor[N, ...]): Prediction.
        target (Tensor[N, ...]): Target, same shape as ``pred``.
        weight (Tensor[N], optional): Per-sample weight.

    Returns:
        Tensor[N, ...]: The target with invalid samples replaced.
    """
    if weight is None:
        return target
    if pred.shape != target.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} and target '
                         f'shape {tuple(target.shape)} differ')
    valid = (weight.reshape(-1, *([1] * (pred.dim() - 1))) > 0)
    return torch.where(valid, target.to(pred.dtype), pred.detach())
