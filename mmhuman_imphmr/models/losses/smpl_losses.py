"""SMPL parameter losses: pose, betas, camera prior and view consistency.

Reductions follow SPIN's ``train/trainer.py`` (``nn.MSELoss`` mean over the
valid samples' elements, see ``utils.py``). The functions return the loss
without lambda; the registered modules below apply it.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.geometry import rotate_global_orient_to_view
from mmhuman_imphmr.utils.precision import fp32_region
from .utils import mask_invalid_target, weighted_sample_mean


def pose_loss(pred_rotmat: torch.Tensor,
              target_rotmat: torch.Tensor,
              weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """MSE between rotation matrices (SPIN's ``loss_regr_pose``).

    Args:
        pred_rotmat (Tensor[N, 24, 3, 3]): Predicted joint rotations.
        target_rotmat (Tensor[N, 24, 3, 3]): Target rotations.
        weight (Tensor[N], optional): Per-sample weight (``has_smpl``).

    Returns:
        Tensor[]: Mean over the ``24 * 9`` entries of the valid samples.
    """
    target = mask_invalid_target(pred_rotmat, target_rotmat, weight)
    return weighted_sample_mean((pred_rotmat - target)**2, weight)


def betas_loss(pred_betas: torch.Tensor,
               target_betas: torch.Tensor,
               weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """MSE between shape coefficients (SPIN's ``loss_regr_betas``).

    Args:
        pred_betas (Tensor[N, 10]): Predicted betas.
        target_betas (Tensor[N, 10]): Target betas.
        weight (Tensor[N], optional): Per-sample weight.

    Returns:
        Tensor[]
    """
    target = mask_invalid_target(pred_betas, target_betas, weight)
    return weighted_sample_mean((pred_betas - target)**2, weight)


def camera_prior_loss(pred_cam: torch.Tensor,
                      weight: Optional[torch.Tensor] = None,
                      sharpness: float = 10.,
                      linear_below: Optional[float] = None) -> torch.Tensor:
    """SPIN's prior for a positive camera scale: ``mean (exp(-10 s))^2``.

    It keeps the weak-perspective scale ``s`` (hence the depth ``2f/(res s)``)
    positive; it is near 0 for ``s`` around 1 and explodes for ``s < 0``.

    Args:
        pred_cam (Tensor[N, 3]): Weak-perspective ``(s, tx, ty)``.
        weight (Tensor[N], optional): Per-sample weight. Defaults to ones
            (SPIN applies it to every sample).
        sharpness (float): The factor 10 of SPIN.
        linear_below (float, optional): ``None`` (default): SPIN's prior
            everywhere. A value ``s0``: below ``s0`` the prior continues
            along its tangent at ``s0`` (same value and slope there, so it
            is continuously differentiable), and its gradient stays at the
            slope of ``s0`` however negative ``s`` gets. At and above ``s0``
            it is SPIN's prior exactly. Not in SPIN: see
            :class:`CameraPriorLoss`.

    Returns:
        Tensor[]
    """
    s = pred_cam[:, 0]
    if linear_below is None:
        return weighted_sample_mean(torch.exp(-sharpness * s)**2, weight)
    s0 = float(linear_below)
    k = 2. * sharpness  # exp(-sharpness * s)^2 = exp(-k * s)
    e0 = math.exp(-k * s0)
    # The same float operations as SPIN's at s >= s0 (the clamp is the
    # identity there), so value and gradient are bit-identical there; exp()
    # never sees s < s0, so no inf reaches the backward pass either.
    inside = torch.exp(-sharpness * torch.clamp(s, min=s0))**2
    tangent = e0 * (1. - k * (s - s0))
    return weighted_sample_mean(torch.where(s >= s0, inside, tangent), weight)


def view_consistency_loss(rotmat_a: torch.Tensor,
                          betas_a: torch.Tensor,
                          rotmat_b: torch.Tensor,
                          betas_b: torch.Tensor,
                          phi_a: torch.Tensor,
                          phi_b: torch.Tensor,
                          weight: Optional[torch.Tensor] = None,
                          stop_gradient: Optional[str] = None
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pose and shape disagreement of two views of the same person (eq. 7).

    View a's root rotation is brought to view b with the shared convention
    (DESIGN §3): ``R_root_b = R_y(-(phi_b - phi_a)) R_root_a``
    (``geometry.rotate_global_orient_to_view``); body pose and betas do not
    depend on the view and are compared as they are.

    Args:
        rotmat_a (Tensor[N, 24, 3, 3]): Rotations predicted at ``phi_a``.
        betas_a (Tensor[N, 10]): Betas predicted at ``phi_a``.
        rotmat_b (Tensor[N, 24, 3, 3]): Rotations predicted at ``phi_b``.
        betas_b (Tensor[N, 10]): Betas predicted at ``phi_b``.
        phi_a (Tensor[N]): Azimuth of view a (radians).
        phi_b (Tensor[N]): Azimuth of view b (radians).
        weight (Tensor[N], optional): Per-sample weight (samples without 3D
            labels in the paper).
        stop_gradient (str, optional): ``None`` (both views receive
            gradients, the default: the paper says nothing, and eq. 7 is
            symmetric up to the re-orientation), ``'a'`` or ``'b'`` to detach
            that view and use it as a fixed target.

    Returns:
        tuple[Tensor[], Tensor[]]: ``(pose_loss, betas_loss)``, without lambda.
    """
    if stop_gradient not in (None, 'a', 'b'):
        raise ValueError(f"stop_gradient must be None, 'a' or 'b', found "
                         f'{stop_gradient!r}')
    if stop_gradient == 'a':
        rotmat_a, betas_a = rotmat_a.detach(), betas_a.detach()
    elif stop_gradient == 'b':
        rotmat_b, betas_b = rotmat_b.detach(), betas_b.detach()
    root_a_in_b = rotate_global_orient_to_view(rotmat_a[:, 0], phi_b - phi_a)
    rotmat_a_in_b = torch.cat([root_a_in_b[:, None], rotmat_a[:, 1:]], dim=1)
    loss_pose = weighted_sample_mean((rotmat_a_in_b - rotmat_b)**2, weight)
    loss_betas = weighted_sample_mean((betas_a - betas_b)**2, weight)
    return loss_pose, loss_betas


@MODELS.register_module()
class PoseLoss(nn.Module):
    """``loss_weight *`` :func:`pose_loss` (lambda_pose, paper: 60)."""

    def __init__(self, loss_weight: float = 60.) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @fp32_region
    def forward(self,
                pred_rotmat: torch.Tensor,
                target_rotmat: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * pose_loss(pred_rotmat, target_rotmat, weight)


BETA_OUTLIER_MODES = ('zero', 'drop')


@MODELS.register_module()
class BetasLoss(nn.Module):
    """``loss_weight *`` :func:`betas_loss`, with SPIN's outlier rule.

    Pseudo-GT fits sometimes have implausible shapes. SPIN
    (``train/trainer.py``) replaces a fit's betas by zeros when any
    ``|beta| > 3`` ("replace extreme betas with zero betas") and keeps
    supervising them, i.e. it pulls such samples to the mean shape.

    Args:
        loss_weight (float): lambda_shape. Defaults to 0.06 (paper).
        max_abs_betas (float, optional): The threshold (SPIN: 3); ``None``
            keeps every target as it is.
        outliers (str): ``'zero'`` (SPIN, default): the target becomes the
            mean shape; ``'drop'``: the sample leaves the betas term (this
            project's behaviour before it followed SPIN).
    """

    def __init__(self,
                 loss_weight: float = 0.06,
                 max_abs_betas: Optional[float] = 3.,
                 outliers: str = 'zero') -> None:
        super().__init__()
        if outliers not in BETA_OUTLIER_MODES:
            raise ValueError(f'BetasLoss: outliers must be one of '
                             f'{BETA_OUTLIER_MODES}, found {outliers!r}')
        self.loss_weight = loss_weight
        self.max_abs_betas = max_abs_betas
        self.outliers = outliers

    @fp32_region
    def forward(self,
                pred_betas: torch.Tensor,
                target_betas: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.max_abs_betas is not None:
            extreme = (target_betas.abs() > self.max_abs_betas).any(-1)
            if self.outliers == 'zero':
                target_betas = torch.where(extreme[:, None],
                                           torch.zeros_like(target_betas),
                                           target_betas)
            else:
                keep = (~extreme).to(pred_betas.dtype)
                weight = keep if weight is None else weight * keep
        return self.loss_weight * betas_loss(pred_betas, target_betas, weight)


@MODELS.register_module()
class CameraPriorLoss(nn.Module):
    """``loss_weight *`` :func:`camera_prior_loss`.

    Args:
        loss_weight (float): Defaults to 60 (SPIN's 1 x its global 60; the
            paper does not list it).
        sharpness (float): SPIN's 10.
        linear_below (float, optional): ``None`` (default, SPIN): the
            exponential everywhere. A scale ``s0`` (e.g. 0): the prior's
            tangent at ``s0`` below it. A guard of this project for training
            from scratch: there a single update can throw the predicted
            scale of a whole batch from ~1 to below -2 (measured: the
            synthetic quick-start config without dropout, seed 1, step 294,
            after a transient dip to -0.18 at step 283 that the prior undid
            in two steps). SPIN's ``exp(-20 s)`` is then ~1e22 and overflows
            float32 a step later, which ends the run. The tangent keeps the
            loss finite and the push back to ``s > 0`` bounded (``20 *
            exp(-20 s0)`` per unit weight), so the run can recover.
    """

    def __init__(self,
                 loss_weight: float = 60.,
                 sharpness: float = 10.,
                 linear_below: Optional[float] = None) -> None:
        super().__init__()
        if linear_below is not None:
            try:
                finite = math.isfinite(float(linear_below))
            except (TypeError, ValueError):
                finite = False
            if not finite:
                raise ValueError('CameraPriorLoss: linear_below must be None '
                                 f'or a finite scale, found {linear_below!r}')
        self.loss_weight = loss_weight
        self.sharpness = sharpness
        self.linear_below = linear_below

    @fp32_region
    def forward(self,
                pred_cam: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * camera_prior_loss(
            pred_cam, weight, self.sharpness, self.linear_below)


@MODELS.register_module()
class ViewConsistencyLoss(nn.Module):
    """``L_cons`` (eq. 7): :func:`view_consistency_loss`, weighted.

    Args:
        pose_weight (float): lambda_pose on the pose term. Defaults to 60.
        betas_weight (float): lambda_shape on the shape term. Defaults to
            0.06. (The paper writes eq. 7 with the same lambdas as eq. 5.)
        stop_gradient (str, optional): ``None`` (default: both views get
            gradients; the paper is silent, an assumption), ``'a'`` or
            ``'b'``: see :func:`view_consistency_loss`.
    """

    def __init__(self,
                 pose_weight: float = 60.,
                 betas_weight: float = 0.06,
                 stop_gradient: Optional[str] = None) -> None:
        super().__init__()
        if stop_gradient not in (None, 'a', 'b'):
            raise ValueError(f"ViewConsistencyLoss: stop_gradient must be "
                             f"None, 'a' or 'b', found {stop_gradient!r}")
        self.pose_weight = pose_weight
        self.betas_weight = betas_weight
        self.stop_gradient = stop_gradient

    @fp32_region
    def forward(
        self,
        rotmat_a: torch.Tensor,
        betas_a: torch.Tensor,
        rotmat_b: torch.Tensor,
        betas_b: torch.Tensor,
        phi_a: torch.Tensor,
        phi_b: torch.Tensor,
        weight: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(pose term, betas term)``, weighted."""
        loss_pose, loss_betas = view_consistency_loss(rotmat_a, betas_a,
                                                      rotmat_b, betas_b, phi_a,
                                                      phi_b, weight,
                                                      self.stop_gradient)
        return self.pose_weight * loss_pose, self.betas_weight * loss_betas
