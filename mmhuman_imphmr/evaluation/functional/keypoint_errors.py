"""Joint and vertex errors of mesh recovery (pure numpy).

Note:
    N: samples, J: joints (or vertices), all positions in metres unless the
    caller scales them. Every function returns one value per sample,
    ``ndarray[N]``; average it for the dataset number.
"""
from typing import Optional

import numpy as np


def _check_pair(pred: np.ndarray, gt: np.ndarray, name: str) -> None:
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f'{name}: pred and gt must both be [N, J, 3], found '
                         f'{pred.shape} and {gt.shape}')


def align_by_joint(joints: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Subtract a root position: ``joints [N, J, 3] - root [N, 3]``."""
    return joints - root[:, None, :]


def similarity_procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align each ``pred[n]`` to ``gt[n]`` by the best similarity transform.

    Solves ``min_{s, R, t} sum_j |s R p_j + t - g_j|^2`` per sample in closed
    form (Umeyama 1991): centre both sets, SVD of the cross-covariance
    ``P^T G = U S V^T``; ``R = V D U^T`` with ``D = diag(1, 1, sign(det(V
    U^T)))`` so that R is a proper rotation (no reflection);
    ``s = tr(S D) / |P|^2``; ``t = mean(g) - s R mean(p)``.

    Args:
        pred (ndarray): ``[N, J, 3]``.
        gt (ndarray): ``[N, J, 3]``.

    Returns:
        ndarray: ``[N, J, 3]`` the aligned prediction.
    """
    _check_pair(pred, gt, 'similarity_procrustes')
    pred = pred.astype(np.float64)
    gt = gt.astype(np.float64)
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    p = pred - mu_p  # (N, J, 3)
    g = gt - mu_g
    cov = np.einsum('nji,njk->nik', p, g)  # (N, 3, 3) = P^T G
    u, sing, vt = np.linalg.svd(cov)
    v = np.swapaxes(vt, 1, 2)
    d = np.ones((pred.shape[0], 3))
    d[:, -1] = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
    d[d == 0] = 1.0
    rot = v @ (d[:, :, None] * np.swapaxes(u, 1, 2))  # (N, 3, 3) = V D U^T
    var = (p**2).sum(axis=(1, 2))
    scale = (sing * d).sum(axis=1) / np.maximum(var, 1e-12)
    aligned = scale[:, None, None] * np.einsum('nik,njk->nji', rot, p)
    return aligned + mu_g


def mpjpe(pred: np.ndarray,
          gt: np.ndarray,
          mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Mean per-joint position error, no alignment (align the inputs first).

    Args:
        pred (ndarray): ``[N, J, 3]``.
        gt (ndarray): ``[N, J, 3]``.
        mask (ndarray, optional): ``[N, J]`` joints to average (default all).

    Returns:
        ndarray: ``[N]`` mean Euclidean distance.
    """
    _check_pair(pred, gt, 'mpjpe')
    dist = np.linalg.norm(pred.astype(np.float64) - gt, axis=-1)  # (N, J)
    if mask is None:
        return dist.mean(axis=1)
    mask = np.asarray(mask, np.float64)
    return (dist * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-12)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """MPJPE after per-sample similarity Procrustes alignment ``[N]``."""
    return mpjpe(similarity_procrustes(pred, gt), gt)


def pve(pred_vertices: np.ndarray, gt_vertices: np.ndarray) -> np.ndarray:
    """Per-vertex error: mean vertex distance, no alignment ``[N]``."""
    return mpjpe(pred_vertices, gt_vertices)
