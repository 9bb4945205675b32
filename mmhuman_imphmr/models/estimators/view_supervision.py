"""Per-view targets of ImpHMR's losses (sec. 3.4): stacking and rotating.

* ``L_reg`` (eq. 5): canonical view ``phi = 0``, the ground truth as it is.
* ``L_imag`` (eq. 6): the GT of view ``phi`` is the GT "rotated by ``-phi``":
  3D joints turn about the pelvis by ``R_y(-phi)``, the global orientation
  becomes ``R_y(-phi) R_root``, body pose and betas are unchanged
  (:func:`rotate_targets_to_view`); the silhouette target is made by the
  silhouette head itself.
* ``L_cons`` (eq. 7) needs no target (the regression head compares two
  predictions).

*Which* sample feeds which loss, and from which views it is rendered, is
decided by :mod:`.loss_routing` from the samples' label types. The rotation
convention is imported from :mod:`mmhuman_imphmr.utils.geometry` (DESIGN §3)
and never re-derived here.
"""
from typing import Dict, List, Sequence

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor

from mmhuman_imphmr.utils.constants import (GT_LEFT_HIP, GT_RIGHT_HIP,
                                            LABEL_TYPES, NUM_BETAS,
                                            NUM_GT_JOINTS, NUM_JOINTS,
                                            NUM_OPENPOSE_JOINTS,
                                            NUM_SMPL_JOINTS)
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           rotate_global_orient_to_view,
                                           rotate_joints_to_view)
from .loss_routing import infer_label_type

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
        ``has_kp3d`` Tensor[B] (float 0/1), ``label_type`` Tensor[B] (long,
        index into ``LABEL_TYPES``; from the sample's metainfo
        ``label_type``, or inferred from its flags when it has none).
    """
    columns: Dict[str, List[Tensor]] = {k: [] for k in _TARGET_FIELDS}
    flags: Dict[str, List[float]] = {'has_smpl': [], 'has_kp3d': []}
    label_types: List[int] = []
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
        has_pose = all(
            f in sample
            for f in ('gt_global_orient', 'gt_body_pose', 'gt_betas'))
        has_smpl = float(sample.get('has_smpl', 0.)) if has_pose else 0.
        has_kp3d = (
            float(sample.get('has_kp3d', 0.))
            if 'gt_keypoints3d' in sample else 0.)
        flags['has_smpl'].append(has_smpl)
        flags['has_kp3d'].append(has_kp3d)
        label = sample.metainfo.get('label_type',
                                    infer_label_type(has_smpl, has_kp3d))
        if label not in LABEL_TYPES:
            raise ValueError(
                f'view_supervision.stack_targets: data sample {i} has '
                f'metainfo label_type={label!r}, expected one of '
                f'{LABEL_TYPES} (set label_type in the dataset config)')
        label_types.append(LABEL_TYPES.index(label))
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
        has_kp3d=torch.tensor(flags['has_kp3d'], device=device),
        label_type=torch.tensor(label_types, dtype=torch.long, device=device))


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
