"""Silhouette loss of the geometric guidance branch (paper sec. 3.3, eq. 6)."""
from typing import Optional

import torch
import torch.nn as nn

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.precision import fp32_region
from .utils import weighted_sample_mean


def silhouette_loss(logits: torch.Tensor,
                    target: torch.Tensor,
                    weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Squared L2 between ``sigmoid(logits)`` and a binary silhouette.

    The paper uses the squared L2 norm for every term; the prediction is
    squashed to ``[0, 1]`` so that it is comparable with the 0/1 target.
    Reduced as a mean over pixels, then a weighted mean over samples.

    Args:
        logits (Tensor[N, 1, H, W] | Tensor[N, H, W]): Predicted logits.
        target (Tensor[N, H, W]): 0/1 silhouette.
        weight (Tensor[N], optional): Per-sample weight.

    Returns:
        Tensor[]: The loss (without lambda).
    """
    if logits.dim() == 4:
        if logits.shape[1] != 1:
            raise ValueError(f'silhouette logits must have 1 channel, found '
                             f'shape {tuple(logits.shape)}')
        logits = logits[:, 0]
    if logits.shape != target.shape:
        raise ValueError(f'silhouette logits {tuple(logits.shape)} and target '
                         f'{tuple(target.shape)} differ in shape')
    prob = torch.sigmoid(logits)
    if weight is not None:
        valid = weight.reshape(-1, 1, 1) > 0
        target = torch.where(valid, target.to(prob.dtype), prob.detach())
    return weighted_sample_mean((prob - target.to(prob.dtype))**2, weight)


@MODELS.register_module()
class SilhouetteLoss(nn.Module):
    """``loss_weight *`` :func:`silhouette_loss`.

    Args:
        loss_weight (float): lambda_silh. Defaults to 30 (paper sec. 6.1).
    """

    def __init__(self, loss_weight: float = 30.) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @fp32_region
    def forward(self,
                logits: torch.Tensor,
                target: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * silhouette_loss(logits, target, weight)
