"""View sampling and per-view targets of ImpHMR's three losses (sec. 3.4).

Everything about *which* view a sample is seen from and *what* it must then
predict lives here, so that the estimator stays a short merge and the view
logic can be tested with hand-made tensors:

* ``L_reg`` (eq. 5): canonical view ``phi = 0``, every sample, the ground truth
  as it is.
* ``L_imag`` (eq. 6): one random ``phi ~ U[0, 2 pi)`` per sample, only for
  samples with SMPL labels (``has_smpl``; EFT pseudo fits count, DESIGN §3).
  3D joints are rotated about the pelvis by ``R_y(-phi)``, the global
  orientation becomes ``R_y(-phi) R_root``, body pose and betas are unchanged,
  and the silhouette target is the GT mesh turned by ``-phi`` and rendered
  with the GT camera.
* ``L_cons`` (eq. 7): two independent views ``phi1, phi2`` per sample, only
  for samples without SMPL labels (the loss itself, the prediction at
  ``phi1`` re-oriented by ``phi2 - phi1`` against the one at ``phi2``, is the
  regression head's ``consistency_loss``).

The rotation convention is imported from :mod:`mmhuman_imphmr.utils.geometry`
(DESIGN §3) and never re-derived here.
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmhuman_imphmr.utils.constants import (CROP_SIZE, FOCAL_LENGTH,
                                            GT_LEFT_HIP, GT_RIGHT_HIP,
                                            NUM_BETAS, NUM_GT_JOINTS,
                                            NUM_JOINTS, NUM_OPENPOSE_JOINTS,
                                            NUM_SMPL_JOINTS)
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           rotate_global_orient_to_view,
                                           rotate_joints_to_view,
                                           weak_perspective_to_translation)

# Hips within the 24 GT joints (gt_keypoints3d): the pelvis is their mean, as
# in SPIN's pelvis alignment.
_J24_RIGHT_HIP = GT_RIGHT_HIP - NUM_OPENPOSE_JOINTS
_J24_LEFT_HIP = GT_LEFT_HIP - NUM_OPENPOSE_JOINTS

# (data-sample field, shape of one sample) of every target the losses read.
_TARGET_FIELDS = {
    'gt_keypoints2d': (NUM_JOINTS, 3),
    'gt_keypoints3d': (NUM_GT_JOINTS, 4),
    'gt_global_orient': (3, ),
    'gt_body_pose': (3 * (NUM_SMPL_JOINTS - 1), ),
    'gt_betas': (NUM_BETAS, ),
}


def stack_targets(data_samples: Sequence[BaseDataElement],
                  device: torch.device) -> Dict[str, Tensor]:
    """Stack the ``gt_*`` fields of a batch into target tensors.

    A field that a sample lacks becomes zeros and its flag (``has_smpl``,
    ``has_kp3d`` or the keypoint confidences) zero, so that it contributes
    nothing.

    Args:
        data_samples (Sequence[MeshDataSample]): One per image.
        device (torch.device): Device of the returned tensors.

    Returns:
        dict: ``keypoints2d`` Tensor[B, 49, 3], ``keypoints3d``
        Tensor[B, 24, 4], ``rotmat`` Tensor[B, 24, 3, 3] (SMPL pose as
        rotation matrices), ``betas`` Tensor[B, 10], ``has_smpl`` Tensor[B],
        ``has_kp3d`` Tensor[B] (float 0/1).
    """
    columns: Dict[str, List[Tensor]] = {k: [] for k in _TARGET_FIELDS}
    flags: Dict[str, List[float]] = {'has_smpl': [], 'has_kp3d': []}
    for i, sample in enumerate(data_samples):
        for field, shape in _TARGET_FIELDS.items():
            value = sample.get(field, None)
            if value is None:
                value = torch.zeros(shape)
            value = torch.as_tensor(value, dtype=torch.float32)
            if tuple(value.shape) != shape:
                raise ValueError(
                    f'view_supervision.stack_targets: data sample {i} has '
                    f'{field} of shape {tuple(value.shape)}, expected {shape}')
            columns[field].append(value.to(device))
        has_pose = all(f in sample for f in ('gt_global_orient',
                                            'gt_body_pose', 'gt_betas'))
        has_smpl = float(sample.get('has_smpl', 0.)) if has_pose else 0.
        has_kp3d = (float(sample.get('has_kp3d', 0.))
                    if 'gt_keypoints3d' in sample else 0.)
        flags['has_smpl'].append(has_smpl)
        flags['has_kp3d'].append(has_kp3d)
    stacked = {k: torch.stack(v) for k, v in columns.items()}
    pose = torch.cat([stacked['gt_global_orient'], stacked['gt_body_pose']],
                     dim=1).view(-1, NUM_SMPL_JOINTS, 3)
    return dict(
        keypoints2d=stacked['gt_keypoints2d'],
        keypoints3d=stacked['gt_keypoints3d'],
        global_orient=stacked['gt_global_orient'],
        body_pose=stacked['gt_body_pose'],
        rotmat=axis_angle_to_rotmat(pose),  # (B, 24, 3, 3)
        betas=stacked['gt_betas'],
        has_smpl=torch.tensor(flags['has_smpl'], device=device),
        has_kp3d=torch.tensor(flags['has_kp3d'], device=device))


def sample_angles(batch_size: int, num_views: int, device: torch.device,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    """Azimuths ``phi ~ U[0, 2 pi)`` (paper: ``p_cam = U[0, 2 pi]``).

    Returns:
        Tensor[B, num_views]: Radians, independent per sample and view.
    """
    u = torch.rand(batch_size, num_views, generator=generator)
    return (2 * math.pi * u).to(device)


def rotate_targets_to_view(targets: Dict[str, Tensor],
                           phi: Tensor) -> Dict[str, Tensor]:
    """Ground truth of view ``phi`` (the GT "rotated by ``-phi``", eq. 6).

    3D joints turn about the pelvis (mean of the GT hips), the global
    orientation becomes ``R_y(-phi) R_root``; body pose and betas are
    unchanged. 2D keypoints are not part of ``L_imag`` and are dropped.

    Args:
        targets (dict): As returned by :func:`stack_targets`.
        phi (Tensor[B]): Azimuth of each sample's view, radians.

    Returns:
        dict: ``keypoints3d`` Tensor[B, 24, 4], ``rotmat``
        Tensor[B, 24, 3, 3], ``betas`` Tensor[B, 10] and the flags.
    """
    kp3d = targets['keypoints3d']
    pelvis = 0.5 * (kp3d[:, _J24_RIGHT_HIP, :3] + kp3d[:, _J24_LEFT_HIP, :3])
    rotmat = targets['rotmat']
    root = rotate_global_orient_to_view(rotmat[:, 0], phi)  # (B, 3, 3)
    out = dict(targets)
    out.pop('keypoints2d', None)
    out.update(
        keypoints3d=rotate_joints_to_view(kp3d, phi, pelvis),
        rotmat=torch.cat([root[:, None], rotmat[:, 1:]], dim=1),
        betas=targets['betas'])
    return out


def term_weights(targets: Dict[str, Tensor], terms: Sequence[str],
                 loss: str) -> Dict[str, Tensor]:
    """Per-sample weight of each loss term: which sample feeds which loss.

    * ``'reg'`` (``phi = 0``): every sample, each term masked by its label
      (``keypoints3d`` by ``has_kp3d``, ``pose``/``betas`` by ``has_smpl``;
      2D keypoints carry their own confidences).
    * ``'imag'``: the same label masks, times ``has_smpl``: samples without
      SMPL labels never feed ``L_imag``.
    * ``'cons'``: ``1 - has_smpl`` for every term: samples with SMPL labels
      never feed ``L_cons``; the others need no label at all.

    Args:
        targets (dict): As returned by :func:`stack_targets` (``has_smpl``,
            ``has_kp3d`` Tensor[B]).
        terms (Sequence[str]): Loss terms, names of the regression head.
        loss (str): ``'reg'``, ``'imag'`` or ``'cons'``.

    Returns:
        dict: ``term -> Tensor[B]``.
    """
    has_smpl, has_kp3d = targets['has_smpl'], targets['has_kp3d']
    ones = torch.ones_like(has_smpl)
    labels = dict(keypoints2d=ones, keypoints3d=has_kp3d, pose=has_smpl,
                  betas=has_smpl, cam=ones, silhouette=has_smpl)
    if loss == 'cons':
        labels = {k: 1 - has_smpl for k in labels}
    elif loss == 'imag':
        labels = {k: v * has_smpl for k, v in labels.items()}
    elif loss != 'reg':
        raise ValueError(f"view_supervision.term_weights: loss must be 'reg',"
                         f" 'imag' or 'cons', found {loss!r}")
    unknown = set(terms) - set(labels)
    if unknown:
        raise KeyError(f'view_supervision.term_weights: unknown terms '
                       f'{sorted(unknown)}, expected some of {sorted(labels)}')
    return {t: labels[t] for t in terms}


def fit_weak_perspective(joints: Tensor, keypoints2d: Tensor,
                         fallback: Tensor, min_visible: int = 4) -> Tensor:
    """The GT camera: weak perspective that best maps GT joints to GT 2D.

    SPIN's datasets have no camera; SPIN estimates it from the GT model joints
    and the 2D keypoints (``estimate_translation``). We solve the weak
    perspective version in closed form: ``k = s X_xy + s t``, confidence
    weighted least squares in ``(s, s tx, s ty)``.

    Args:
        joints (Tensor[B, K, 3]): Model joints of the GT mesh (no translation).
        keypoints2d (Tensor[B, K, 3]): GT keypoints in ``[-1, 1]`` crop
            coordinates plus confidence.
        fallback (Tensor[B, 3]): Camera used where fewer than ``min_visible``
            keypoints are visible or the fit is degenerate (``s <= 0``),
            e.g. the detached canonical prediction.
        min_visible (int): Assumption (the paper never needs a GT camera):
            fewer visible keypoints make the fit unreliable. Defaults to 4.

    Returns:
        Tensor[B, 3]: ``(s, tx, ty)``.
    """
    w = keypoints2d[..., 2].clamp(min=0)  # (B, K)
    x, k = joints[..., :2], keypoints2d[..., :2]
    sw = w.sum(-1).clamp(min=1e-8)
    x_mean = (w[..., None] * x).sum(1) / sw[:, None]  # (B, 2)
    k_mean = (w[..., None] * k).sum(1) / sw[:, None]
    xc, kc = x - x_mean[:, None], k - k_mean[:, None]
    s = (w[..., None] * xc * kc).sum((1, 2)) / (
        (w[..., None] * xc * xc).sum((1, 2)).clamp(min=1e-8))
    t = k_mean / s.clamp(min=1e-8)[:, None] - x_mean  # (B, 2)
    cam = torch.cat([s[:, None], t], dim=1)
    ok = ((keypoints2d[..., 2] > 0).sum(-1) >= min_visible) & (s > 1e-3)
    return torch.where(ok[:, None], cam, fallback)


def render_silhouette_targets(body_model: torch.nn.Module,
                              targets: Dict[str, Tensor],
                              phi: Tensor, fallback_cam: Tensor,
                              image_size: int = 128,
                              focal_length: float = FOCAL_LENGTH,
                              crop_size: int = CROP_SIZE) -> Tensor:
    """``S_{-phi}``: the GT mesh turned by ``-phi`` about its pelvis, rendered.

    Args:
        body_model (nn.Module): The SMPL model (interface of
            :class:`mmhuman_imphmr.body_models.SMPL`).
        targets (dict): As returned by :func:`stack_targets`, for the samples
            to render.
        phi (Tensor[N]): Azimuth per sample, radians.
        fallback_cam (Tensor[N, 3]): See :func:`fit_weak_perspective`.
        image_size (int): Side of the silhouette (the head's output).

    Returns:
        Tensor[N, image_size, image_size]: 0/1 masks, no gradient.
    """
    from mmhuman_imphmr.renderer import render_view_silhouettes
    with torch.no_grad():
        rotmat = targets['rotmat']
        out = body_model(
            global_orient=rotmat[:, :1],
            body_pose=rotmat[:, 1:],
            betas=targets['betas'],
            pose2rot=False)
        joints = out['joints']  # (N, 49, 3)
        pelvis = 0.5 * (joints[:, GT_RIGHT_HIP] + joints[:, GT_LEFT_HIP])
        cam = fit_weak_perspective(joints, targets['keypoints2d'],
                                   fallback_cam.detach())
        translation = weak_perspective_to_translation(
            cam, focal_length=focal_length, crop_size=crop_size)
        return render_view_silhouettes(
            out['vertices'], body_model.faces_tensor, pelvis, phi,
            translation, image_size=image_size, focal_length=focal_length,
            crop_size=crop_size)
