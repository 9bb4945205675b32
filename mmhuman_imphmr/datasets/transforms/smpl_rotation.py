"""The in-plane rotation of the crop, applied to the SMPL and 3D labels."""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmhuman_imphmr.registry import TRANSFORMS
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat, rotation_z,
                                           rotmat_to_axis_angle)


def crop_rotation_matrix(rotation_deg: float) -> np.ndarray:
    """Camera-frame rotation matching mmpose's crop rotation of ``rot`` deg.

    mmpose's ``get_warp_matrix(center, scale, rot, ...)`` maps the source
    direction rotated by ``+rot`` (``[[c, -s], [s, c]]`` in image x-right,
    y-down coordinates) onto the unrotated destination direction, so the crop
    content turns by ``-rot``. With the OpenCV camera (x right, y down) a
    rotation about the optical axis commutes with the pinhole projection, so
    the 3D counterpart is ``R_z(-rot)``; ``tests/test_datasets/
    test_transforms/test_smpl_rotation.py`` checks this against the warped
    keypoints. SPIN uses the same sign (``rot_rad = -rot``).

    Args:
        rotation_deg (float): mmpose's ``bbox_rotation`` in degrees.

    Returns:
        ndarray[3, 3]: float32 rotation matrix.
    """
    angle = torch.tensor(-np.deg2rad(float(rotation_deg)), dtype=torch.float64)
    return rotation_z(angle).numpy().astype(np.float32)


def rotate_smpl_labels(
    rotation_deg: float,
    global_orient: Optional[np.ndarray] = None,
    keypoints3d: Optional[np.ndarray] = None
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Rotate the global orientation and camera-frame 3D joints in-plane.

    The 3D joints turn about the camera's optical axis (``J' = R J``), the
    root rotation becomes ``R @ R_root``. Both describe the same rigid motion
    of the body: running SMPL with ``R @ R_root`` turns the joints about
    SMPL's root joint, which differs from ``R J`` only by a translation, and
    translations are absorbed by the (root-aligned) 3D loss and by the
    regressed camera.

    Args:
        rotation_deg (float): mmpose's ``bbox_rotation`` in degrees.
        global_orient (ndarray[3], optional): Axis-angle root rotation.
        keypoints3d (ndarray[J, C], optional): ``C`` is 3 or 4 (confidence
            kept unchanged).

    Returns:
        tuple: ``(global_orient ndarray[3] | None,
        keypoints3d ndarray[J, C] | None)``.
    """
    rot = crop_rotation_matrix(rotation_deg)
    if global_orient is not None:
        root = axis_angle_to_rotmat(
            torch.as_tensor(global_orient, dtype=torch.float64).reshape(3))
        root = torch.as_tensor(rot, dtype=torch.float64) @ root
        global_orient = rotmat_to_axis_angle(root).numpy().astype(np.float32)
    if keypoints3d is not None:
        keypoints3d = keypoints3d.astype(np.float32, copy=True)
        keypoints3d[:, :3] = keypoints3d[:, :3] @ rot.T
    return global_orient, keypoints3d


@TRANSFORMS.register_module()
class RotateSMPL(BaseTransform):
    """Apply ``bbox_rotation`` (set by ``mmpose.RandomBBoxTransform``) to the
    SMPL global orientation and the 3D joints.

    Place it after ``RandomBBoxTransform`` (which samples the angle) and after
    :class:`RandomFlipSMPL`; ``mmpose.TopdownAffine`` rotates the image and
    the 2D keypoints with the same angle. Without ``bbox_rotation`` (test
    pipelines) it does nothing.

    Required Keys:
        - bbox_rotation (ndarray[1], degrees; optional)

    Modified Keys:
        - smpl_global_orient (ndarray[3]), keypoints3d (ndarray[24, 4])

    Added Keys:
        - smpl_rotation_applied (bool)
    """

    def transform(self, results: Dict) -> Optional[Dict]:
        """Rotate the 3D labels by the crop's in-plane rotation."""
        if results.get('smpl_rotation_applied', False):
            raise RuntimeError('RotateSMPL appears twice in the pipeline: '
                               'the rotation would be applied twice.')
        rotation = results.get('bbox_rotation', None)
        angle = 0.0 if rotation is None else float(
            np.asarray(rotation).reshape(-1)[0])
        if angle != 0.0:
            orient, kp3d = rotate_smpl_labels(
                angle, results.get('smpl_global_orient', None),
                results.get('keypoints3d', None))
            if orient is not None:
                results['smpl_global_orient'] = orient
            if kp3d is not None:
                results['keypoints3d'] = kp3d
        results['smpl_rotation_applied'] = True
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'
