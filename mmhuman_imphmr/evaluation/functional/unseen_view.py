"""Targets and errors of the unseen-view evaluation (ImpHMR eq. 6).

The ground truth of view ``phi`` is the ground truth "rotated by ``-phi``":
the 3D joints turn about the pelvis by ``R_y(-phi)`` and the global
orientation becomes ``R_y(-phi) R_root``; body pose and betas do not change.
The rotation itself is :mod:`mmhuman_imphmr.utils.geometry`'s (DESIGN §3),
called here, never re-derived: these two target functions are thin numpy
wrappers around ``rotate_joints_to_view`` / ``rotate_global_orient_to_view``.

Note:
    N: samples, K: views (azimuths in **degrees**), J: joints.
"""
from typing import Sequence, Union

import numpy as np
import torch

from mmhuman_imphmr.utils.geometry import (rotate_global_orient_to_view,
                                           rotate_joints_to_view)

ArrayLike = Union[np.ndarray, torch.Tensor]


def _float64(x: ArrayLike) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64)
    return torch.as_tensor(np.asarray(x, np.float64))


def _phis(phi_deg: Sequence[float], num: int) -> torch.Tensor:
    """Degrees ``[K]`` -> radians ``Tensor[num, K]`` (float64)."""
    phi = torch.deg2rad(_float64(phi_deg).reshape(-1))
    return phi.expand(num, -1)


def view_target_joints(joints: ArrayLike,
                       phi_deg: Sequence[float]) -> np.ndarray:
    """Pelvis-centred GT joints seen from the views ``phi``.

    ``R_y(-phi) x`` for every joint ``x`` (already relative to the pelvis,
    so the rotation centre is the origin).

    Args:
        joints (ndarray | Tensor): ``[N, J, 3]`` pelvis-centred joints.
        phi_deg (Sequence[float]): ``K`` azimuths in degrees.

    Returns:
        ndarray: ``[N, K, J, 3]`` (float64).
    """
    joints = _float64(joints)
    if joints.dim() != 3 or joints.shape[-1] != 3:
        raise ValueError(f'view_target_joints: joints must be [N, J, 3], '
                         f'found {tuple(joints.shape)}')
    phi = _phis(phi_deg, joints.shape[0])  # (N, K)
    rep = joints[:, None].expand(-1, phi.shape[1], -1, -1)  # (N, K, J, 3)
    return rotate_joints_to_view(rep, phi).numpy()


def view_target_orient(global_orient: ArrayLike,
                       phi_deg: Sequence[float]) -> np.ndarray:
    """GT global orientation seen from the views ``phi``: ``R_y(-phi) R``.

    Args:
        global_orient (ndarray | Tensor): ``[N, 3, 3]`` root rotations.
        phi_deg (Sequence[float]): ``K`` azimuths in degrees.

    Returns:
        ndarray: ``[N, K, 3, 3]`` (float64).
    """
    rot = _float64(global_orient)
    if rot.dim() != 3 or tuple(rot.shape[-2:]) != (3, 3):
        raise ValueError(f'view_target_orient: global_orient must be '
                         f'[N, 3, 3], found {tuple(rot.shape)}')
    phi = _phis(phi_deg, rot.shape[0])  # (N, K)
    rep = rot[:, None].expand(-1, phi.shape[1], -1, -1)  # (N, K, 3, 3)
    return rotate_global_orient_to_view(rep, phi).numpy()


def rotation_angle_deg(rot_pred: ArrayLike, rot_gt: ArrayLike) -> np.ndarray:
    """Geodesic angle between rotations, degrees in ``[0, 180]``.

    The angle of ``M = R_pred^T R_gt``: ``atan2(|vee(M - M^T)| / 2,
    (tr M - 1) / 2)`` (the same as ``arccos((tr M - 1) / 2)``, but accurate
    near 0 and 180 degrees, where ``arccos`` loses half the digits).

    Args:
        rot_pred (ndarray | Tensor): ``[..., 3, 3]``.
        rot_gt (ndarray | Tensor): ``[..., 3, 3]``, same shape.

    Returns:
        ndarray: ``[...]`` angles in degrees (float64).
    """
    a = _float64(rot_pred).numpy()
    b = _float64(rot_gt).numpy()
    if a.shape != b.shape or a.shape[-2:] != (3, 3):
        raise ValueError(f'rotation_angle_deg: both rotations must be '
                         f'[..., 3, 3] of one shape, found {a.shape} and '
                         f'{b.shape}')
    m = np.swapaxes(a, -1, -2) @ b
    cos = (np.trace(m, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = np.stack([
        m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
        m[..., 1, 0] - m[..., 0, 1]
    ],
                    axis=-1)
    sin = np.linalg.norm(skew, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def mask_iou(pred: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Intersection over union of binary masks, one value per mask.

    **Two empty masks have IoU 1** (convention: the prediction agrees with
    the target exactly; 0/0 has no value otherwise).

    Args:
        pred (ndarray | Tensor): ``[N, H, W]`` masks (nonzero = inside).
        gt (ndarray | Tensor): ``[N, H, W]``, same shape.

    Returns:
        ndarray: ``[N]`` IoU in ``[0, 1]`` (float64).
    """
    p = _float64(pred).numpy() != 0
    g = _float64(gt).numpy() != 0
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(f'mask_iou: pred and gt must both be [N, H, W], '
                         f'found {p.shape} and {g.shape}')
    inter = (p & g).sum(axis=(1, 2)).astype(np.float64)
    union = (p | g).sum(axis=(1, 2)).astype(np.float64)
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)
