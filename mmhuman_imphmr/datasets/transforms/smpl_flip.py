"""Horizontal flip of the image, the 2D/3D keypoints and the SMPL pose."""
from typing import Dict, Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmhuman_imphmr.registry import TRANSFORMS
from mmhuman_imphmr.utils.constants import (J24_FLIP_PERM, J49_FLIP_PERM,
                                            SMPL_POSE_FLIP_PERM)


def flip_smpl_pose(global_orient: np.ndarray,
                   body_pose: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mirror an SMPL pose across the camera's ``x = 0`` plane.

    The mirror ``M = diag(-1, 1, 1)`` conjugates every joint rotation,
    ``M R M``, which in axis-angle keeps ``x`` and negates ``y`` and ``z``;
    the left and right joints then swap (SPIN's ``flip_pose``).

    Args:
        global_orient (ndarray[3]): Root axis-angle (camera frame).
        body_pose (ndarray[69]): Axis-angle of the 23 body joints.

    Returns:
        tuple: Flipped ``(global_orient ndarray[3], body_pose ndarray[69])``.
    """
    pose = np.concatenate([
        np.asarray(global_orient, np.float32).reshape(3),
        np.asarray(body_pose, np.float32).reshape(69)
    ])
    pose = pose[SMPL_POSE_FLIP_PERM].reshape(24, 3)
    pose[:, 1:] *= -1
    pose = pose.reshape(72)
    return pose[:3].copy(), pose[3:].copy()


def flip_keypoints3d(keypoints3d: np.ndarray) -> np.ndarray:
    """Mirror SPIN's 24 GT 3D joints: negate x, swap left and right.

    Args:
        keypoints3d (ndarray[24, C]): Camera-frame joints, ``C`` is 3 or 4
            (the confidence column moves with its joint).

    Returns:
        ndarray[24, C]
    """
    if keypoints3d.shape[0] != len(J24_FLIP_PERM):
        raise ValueError(f'flip_keypoints3d: expected {len(J24_FLIP_PERM)} '
                         f'joints, found shape {keypoints3d.shape}')
    flipped = keypoints3d[J24_FLIP_PERM].copy()
    flipped[:, 0] *= -1
    return flipped


@TRANSFORMS.register_module()
class RandomFlipSMPL(BaseTransform):
    """Flip the full image and every label of the person with probability p.

    It runs on the full image, before ``mmpose.RandomBBoxTransform`` and
    ``mmpose.TopdownAffine`` (and before :class:`RotateSMPL`, which must see
    the flipped 3D labels: mirroring does not commute with an in-plane
    rotation). Pixel coordinates follow mmpose's flip: ``x' = W - 1 - x``
    (pixel centres at integer coordinates), so flipping twice is the
    identity. The 3D labels are mirrored across the camera's ``x = 0`` plane,
    which matches the image mirror when the principal point is the image
    centre (SPIN does the same).

    Required Keys:
        - img (ndarray[H, W, 3])
        - bbox_center (ndarray[1, 2])
        - keypoints (ndarray[1, 49, 2]), keypoints_visible (ndarray[1, 49])

    Optional Keys (flipped when present):
        - bbox (ndarray[1, 4], xyxy)
        - keypoints3d (ndarray[24, 4])
        - smpl_global_orient (ndarray[3]), smpl_body_pose (ndarray[69])

    Modified Keys:
        - img, bbox_center, bbox, keypoints, keypoints_visible, keypoints3d,
          smpl_global_orient, smpl_body_pose

    Added Keys:
        - flip (bool), flip_direction (``'horizontal'`` or None)

    Args:
        prob (float): Flip probability. Defaults to 0.5 (SPIN).
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomFlipSMPL: prob must be in [0, 1], '
                             f'found {prob}')
        self.prob = prob

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Flip with probability ``prob``; always sets ``flip``."""
        if results.get('smpl_rotation_applied', False):
            raise RuntimeError(
                'RandomFlipSMPL must run before RotateSMPL in the pipeline: '
                'a mirror does not commute with the in-plane rotation.')
        if not self._do_flip():
            results['flip'] = False
            results['flip_direction'] = None
            return results
        return self.flip(results)

    @staticmethod
    def flip(results: Dict) -> Dict:
        """Flip unconditionally (used by tests and test-time augmentation)."""
        img = results['img']
        width = img.shape[1]
        results['img'] = np.ascontiguousarray(img[:, ::-1])

        center = results['bbox_center'].copy()
        center[..., 0] = width - 1 - center[..., 0]
        results['bbox_center'] = center
        if results.get('bbox', None) is not None:
            bbox = results['bbox'].copy()
            bbox[..., 0] = width - 1 - results['bbox'][..., 2]
            bbox[..., 2] = width - 1 - results['bbox'][..., 0]
            results['bbox'] = bbox

        keypoints = results['keypoints']
        if keypoints.shape[-2] != len(J49_FLIP_PERM):
            raise ValueError(
                f'RandomFlipSMPL: keypoints must have {len(J49_FLIP_PERM)} '
                f'joints (SPIN 49), found shape {keypoints.shape}')
        keypoints = keypoints[..., J49_FLIP_PERM, :].copy()
        keypoints[..., 0] = width - 1 - keypoints[..., 0]
        results['keypoints'] = keypoints
        if results.get('keypoints_visible', None) is not None:
            results['keypoints_visible'] = \
                results['keypoints_visible'][..., J49_FLIP_PERM].copy()

        if results.get('keypoints3d', None) is not None:
            results['keypoints3d'] = flip_keypoints3d(results['keypoints3d'])
        if results.get('smpl_global_orient', None) is not None:
            results['smpl_global_orient'], results['smpl_body_pose'] = \
                flip_smpl_pose(results['smpl_global_orient'],
                               results['smpl_body_pose'])

        results['flip'] = True
        results['flip_direction'] = 'horizontal'
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
