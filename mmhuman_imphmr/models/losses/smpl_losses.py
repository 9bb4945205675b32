"""SMPL parameter losses: pose, betas, camera prior and view consistency.

Reductions follow SPIN's ``train/trainer.py`` (``nn.MSELoss`` mean over the
valid samples' elements, see ``utils.py``); weights (lambda) are applied by
the head.
"""
from typing import Optional, Tuple

import torch

from mmhuman_imphmr.utils.geometry import rotate_global_orient_to_view
from .utils import mask_invalid_target, weighted_sample_mean


def pose_loss(pred_rotmat: torch.Tensor, target_rotmat: torch.Tensor,
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


def betas_loss(pred_betas: torch.Tensor, target_betas: torch.Tensor,
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
                      sharpness: float = 10.) -> torch.Tensor:
    """SPIN's prior for a positive camera scale: ``mean (exp(-10 s))^2``.

    It keeps the weak-perspective scale ``s`` (hence the depth ``2f/(res s)``)
    positive; it is near 0 for ``s`` around 1 and explodes for ``s < 0``.

    Args:
        pred_cam (Tensor[N, 3]): Weak-perspective ``(s, tx, ty)``.
        weight (Tensor[N], optional): Per-sample weight. Defaults to ones
            (SPIN applies it to every sample).
        sharpness (float): The factor 10 of SPIN.

    Returns:
        Tensor[]
    """
    return weighted_sample_mean(torch.exp(-sharpness * pred_cam[:, 0])**2,
                                weight)


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
