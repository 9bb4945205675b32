"""Pack a transformed crop and its labels into ``inputs`` + MeshDataSample."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms.formatting import image_to_tensor

from mmhuman_imphmr.registry import TRANSFORMS
from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample
from mmhuman_imphmr.utils.constants import (LABEL_TYPES, NUM_BETAS,
                                            NUM_GT_JOINTS, NUM_JOINTS)


def _flag(value) -> torch.Tensor:
    """A 0/1 label flag as a float scalar tensor."""
    return torch.tensor(
        float(np.asarray(value).reshape(-1)[0]), dtype=torch.float32)


@TRANSFORMS.register_module()
class PackMeshInputs(BaseTransform):
    """Pack the crop into ``inputs`` and the labels into a MeshDataSample.

    The image becomes a ``Tensor[C, H, W]`` of the image's dtype (uint8
    after ``mmpose.TopdownAffine``), as ``mmpose.PackPoseInputs`` does;
    normalisation is the data preprocessor's job. 2D keypoints go from crop
    pixels to SPIN's ``[-1, 1]`` coordinates, ``2 * kp / input_size - 1``,
    with confidence = visibility. Like SPIN (``j2d_processing`` only
    transforms and normalises), a keypoint that falls outside the crop
    keeps its confidence, with coordinates beyond ``[-1, 1]``: the person's
    whole body is still supervised (``drop_outside_keypoints`` is the
    deviation). Missing SMPL/3D labels are packed as zeros with a 0 flag.

    Required Keys:
        - img (ndarray[H, W, C]), input_size (tuple[int, int], (w, h))
        - transformed_keypoints (ndarray[1, 49, 2]), keypoints_visible
          (ndarray[1, 49])

    Optional Keys (zeros / 0 flags when absent):
        - keypoints3d (ndarray[24, 4]), smpl_global_orient (ndarray[3]),
          smpl_body_pose (ndarray[69]), smpl_betas (ndarray[10]),
          has_smpl, has_kp3d
        - meta keys: see ``meta_keys``; ``label_type`` (str, one of
          :data:`LABEL_TYPES`) is packed whenever present

    Added Keys:
        - inputs (Tensor[C, H, W]), data_samples (MeshDataSample)

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo
            when present. ``bbox_center``/``bbox_scale`` are stored for the
            single instance (ndarray[2]); ``bbox_rotation`` is stored as
            ``rotation`` (float, degrees, 0 without rotation).
            ``label_type`` (the dataset's label type, which routes the
            losses) is packed when present even if it is not listed.
        drop_outside_keypoints (bool): Set the confidence of 2D keypoints
            outside the crop to 0. Defaults to False (SPIN keeps them);
            True is a deviation from SPIN, e.g. for a loss that should only
            see joints in the image.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('sample_idx', 'img_path',
                                             'dataset_name', 'gender',
                                             'bbox_center', 'bbox_scale',
                                             'input_size', 'flip', 'rotation',
                                             'label_type'),
                 drop_outside_keypoints: bool = False) -> None:
        self.meta_keys = tuple(meta_keys)
        if 'label_type' not in self.meta_keys:
            # The losses are routed by it: never lose it to a custom list.
            self.meta_keys += ('label_type', )
        self.drop_outside_keypoints = bool(drop_outside_keypoints)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Build ``dict(inputs=..., data_samples=...)``."""
        if 'img' not in results:
            raise KeyError('PackMeshInputs: results has no "img"; did the '
                           'pipeline load and crop the image?')
        inputs = image_to_tensor(results['img'])

        sample = MeshDataSample()
        sample.gt_keypoints2d = self._keypoints2d(results)

        kp3d = results.get('keypoints3d', None)
        if kp3d is None:
            kp3d = np.zeros((NUM_GT_JOINTS, 4), np.float32)
        kp3d = np.asarray(kp3d, np.float32)
        if kp3d.shape != (NUM_GT_JOINTS, 4):
            raise ValueError(f'PackMeshInputs: keypoints3d must be '
                             f'[{NUM_GT_JOINTS}, 4], found {kp3d.shape}')
        sample.gt_keypoints3d = torch.from_numpy(kp3d.copy())
        for key, out_key, size in (('smpl_global_orient', 'gt_global_orient',
                                    3), ('smpl_body_pose', 'gt_body_pose', 69),
                                   ('smpl_betas', 'gt_betas', NUM_BETAS)):
            value = results.get(key, None)
            value = (
                np.zeros(size, np.float32) if value is None else np.asarray(
                    value, np.float32).reshape(-1))
            if value.shape != (size, ):
                raise ValueError(f'PackMeshInputs: {key} must have {size} '
                                 f'values, found {value.shape}')
            sample.set_field(torch.from_numpy(value.copy()), out_key)
        sample.has_smpl = _flag(results.get('has_smpl', 0))
        sample.has_kp3d = _flag(results.get('has_kp3d', 0))

        metainfo = {}
        for key in self.meta_keys:
            if key == 'rotation':
                rot = results.get('bbox_rotation', None)
                metainfo['rotation'] = 0.0 if rot is None else float(
                    np.asarray(rot).reshape(-1)[0])
            elif key in ('bbox_center', 'bbox_scale') and key in results:
                metainfo[key] = np.asarray(results[key],
                                           np.float32).reshape(-1, 2)[0]
            elif key == 'flip':
                metainfo['flip'] = bool(results.get('flip', False))
            elif key == 'label_type' and key in results:
                metainfo[key] = self._label_type(results[key])
            elif key in results:
                metainfo[key] = results[key]
        sample.set_metainfo(metainfo)
        return dict(inputs=inputs, data_samples=sample)

    @staticmethod
    def _label_type(value) -> str:
        if not isinstance(value, str) or value not in LABEL_TYPES:
            raise ValueError(f'PackMeshInputs: label_type must be one of '
                             f'{LABEL_TYPES}, found {value!r}')
        return value

    def _keypoints2d(self, results: Dict) -> torch.Tensor:
        """``Tensor[49, 3]``: ``[-1, 1]`` crop coordinates + confidence."""
        if 'input_size' not in results:
            raise KeyError('PackMeshInputs: results has no "input_size"; '
                           'run mmpose.TopdownAffine before packing.')
        width, height = results['input_size']
        kp = results.get('transformed_keypoints', None)
        if kp is None or np.ndim(kp) == 0:
            return torch.zeros(NUM_JOINTS, 3)
        kp = np.asarray(kp, np.float32).reshape(-1, NUM_JOINTS, 2)[0]
        visible = results.get('keypoints_visible', None)
        visible = (
            np.ones(NUM_JOINTS, np.float32) if visible is None else np.asarray(
                visible, np.float32).reshape(-1, NUM_JOINTS)[0])
        conf = visible
        if self.drop_outside_keypoints:
            inside = ((kp[:, 0] >= 0) & (kp[:, 0] < width) & (kp[:, 1] >= 0) &
                      (kp[:, 1] < height))
            conf = visible * inside
        size = np.array([width, height], np.float32)
        norm = 2.0 * kp / size - 1.0
        out = np.concatenate([norm, conf[:, None]], axis=1).astype(np.float32)
        return torch.from_numpy(out)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'drop_outside_keypoints={self.drop_outside_keypoints})')
