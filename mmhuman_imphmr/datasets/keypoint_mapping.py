"""The one mapping between keypoint conventions: mmhuman3d's -> SPIN's 49.

mmhuman3d stores the keypoints of a HumanData file in one of its named
conventions. Its converters (``mmhuman3d/data/data_converters/*.py``) write
``'human_data'``, a 190-keypoint superset, together with a per-keypoint
availability mask ``keypoints2d_mask`` / ``keypoints3d_mask`` (K,), and usually
*compress* the file (``__keypoints_compressed__ = True``): the arrays then keep
only the columns whose mask is 1. mmhuman3d maps between conventions by
keypoint *name* (``keypoints_mapping.get_mapping``, exact names only).

Supported source conventions (the names are mmhuman3d's):

==============  ===  =========================================================
convention      K    files
==============  ===  =========================================================
``human_data``  190  every file written by mmhuman3d's converters
                     (``eft_coco_all.npz``, ``eft_mpii.npz``,
                     ``eft_lspet.npz``, ``h36m_mosh_train.npz``,
                     ``h36m_train.npz``, ``mpi_inf_3dhp_train.npz``,
                     ``spin_*.npz``, ``pw3d_test.npz``) and by this
                     project's converters
``smpl_49``     49   SPIN's layout (25 OpenPose + 24 GT joints), ours
``smpl_24``     24   the 24 GT joints of SPIN (PARE's ``convention='smpl_24'``)
==============  ===  =========================================================

Every name of SPIN's 49 exists in ``human_data``, so the mapping is lossless;
keypoints of other conventions (e.g. hands, face contour) are dropped. The
index table below was computed from mmhuman3d's ``HUMAN_DATA`` and
``SMPL_49_KEYPOINTS`` name lists (``core/conventions/keypoints_mapping``):
``HUMAN_DATA.index(name)`` for each of the 49 names.
"""
from typing import List, Optional, Tuple

import numpy as np

from mmhuman_imphmr.utils.constants import NUM_JOINTS, NUM_OPENPOSE_JOINTS

# mmhuman3d's names of SPIN's 49 joints, in the order of
# ``constants.JOINT_NAMES``.
SMPL49_KEYPOINT_NAMES: List[str] = [
    'nose_openpose', 'neck_openpose', 'right_shoulder_openpose',
    'right_elbow_openpose', 'right_wrist_openpose', 'left_shoulder_openpose',
    'left_elbow_openpose', 'left_wrist_openpose', 'pelvis_openpose',
    'right_hip_openpose', 'right_knee_openpose', 'right_ankle_openpose',
    'left_hip_openpose', 'left_knee_openpose', 'left_ankle_openpose',
    'right_eye_openpose', 'left_eye_openpose', 'right_ear_openpose',
    'left_ear_openpose', 'left_bigtoe_openpose', 'left_smalltoe_openpose',
    'left_heel_openpose', 'right_bigtoe_openpose', 'right_smalltoe_openpose',
    'right_heel_openpose', 'right_ankle', 'right_knee', 'right_hip_extra',
    'left_hip_extra', 'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
    'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist',
    'neck_extra', 'headtop', 'pelvis_extra', 'thorax_extra', 'spine_extra',
    'jaw_extra', 'head_extra', 'nose', 'left_eye', 'right_eye', 'left_ear',
    'right_ear'
]
NUM_HUMAN_DATA_KEYPOINTS = 190
# Index of each of SPIN's 49 joints in mmhuman3d's 'human_data' convention.
HUMAN_DATA_TO_SMPL49: List[int] = (
    list(range(153, 178))  # the 25 OpenPose joints, contiguous
    + [8, 5, 144, 145, 4, 7, 21, 19, 17, 16, 18, 20]  # LSP limbs and hips
    + list(range(146, 153))  # neck, headtop, pelvis/thorax (MPII), H36M
    + [55, 57, 56, 59, 58])  # nose, left/right eye, left/right ear

# Source convention -> (number of keypoints K, index in that convention of
# each of the 49 joints; -1 where the convention lacks it).
CONVENTIONS = {
    'human_data': (NUM_HUMAN_DATA_KEYPOINTS, HUMAN_DATA_TO_SMPL49),
    'smpl_49': (NUM_JOINTS, list(range(NUM_JOINTS))),
    'smpl_24': (NUM_JOINTS - NUM_OPENPOSE_JOINTS, [-1] * NUM_OPENPOSE_JOINTS +
                list(range(NUM_JOINTS - NUM_OPENPOSE_JOINTS))),
}


def _lookup(convention: str) -> Tuple[int, np.ndarray]:
    if convention not in CONVENTIONS:
        raise KeyError(f'keypoint convention {convention!r} is not supported; '
                       f'supported: {sorted(CONVENTIONS)}')
    num, index = CONVENTIONS[convention]
    return num, np.asarray(index, dtype=np.int64)


def num_keypoints(convention: str) -> int:
    """Number of keypoints K of a supported convention."""
    return _lookup(convention)[0]


def decompress_keypoints(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Undo mmhuman3d's ``compress_keypoints_by_mask``.

    Args:
        values (ndarray): ``[..., K', C]`` with K' = number of ones in mask.
        mask (ndarray): ``[K]`` 0/1.

    Returns:
        ndarray: ``[..., K, C]`` with zeros where the mask is 0.
    """
    mask = np.asarray(mask).reshape(-1) > 0
    if values.shape[-2] != mask.sum():
        raise ValueError(f'compressed keypoints have {values.shape[-2]} '
                         f'columns but the mask has {int(mask.sum())} ones')
    out = np.zeros(
        values.shape[:-2] + (mask.size, values.shape[-1]), dtype=values.dtype)
    out[..., mask, :] = values
    return out


def to_smpl49(keypoints: np.ndarray,
              src: str,
              mask: Optional[np.ndarray] = None
              ) -> Tuple[np.ndarray, np.ndarray]:
    """Map keypoints of convention ``src`` to SPIN's 49.

    Args:
        keypoints (ndarray): ``[..., K, C]`` (C = 3 for 2D: x, y, confidence;
            4 for 3D: x, y, z, confidence).
        src (str): A convention in :data:`CONVENTIONS`.
        mask (ndarray, optional): ``[K]`` availability (None = all 1).

    Returns:
        tuple: ``keypoints [..., 49, C]`` (missing joints are zero, including
        their confidence) and ``mask [49]`` (uint8). The confidence column is
        multiplied by the mask.
    """
    num, index = _lookup(src)
    if keypoints.shape[-2] != num:
        raise ValueError(f'convention {src!r} has {num} keypoints, found '
                         f'{keypoints.shape[-2]}')
    src_mask = (
        np.ones(num, np.uint8) if mask is None else
        (np.asarray(mask).reshape(-1) > 0).astype(np.uint8))
    if src_mask.size != num:
        raise ValueError(f'mask has {src_mask.size} entries, convention '
                         f'{src!r} has {num}')
    present = index >= 0
    out = np.zeros(
        keypoints.shape[:-2] + (NUM_JOINTS, keypoints.shape[-1]),
        dtype=keypoints.dtype)
    out[..., present, :] = keypoints[..., index[present], :]
    mask49 = np.zeros(NUM_JOINTS, np.uint8)
    mask49[present] = src_mask[index[present]]
    out[..., -1] *= mask49
    return out, mask49


def from_smpl49(keypoints: np.ndarray,
                mask: Optional[np.ndarray] = None,
                dst: str = 'human_data') -> Tuple[np.ndarray, np.ndarray]:
    """Map SPIN's 49 to convention ``dst`` (what the converters write).

    Args:
        keypoints (ndarray): ``[..., 49, C]``.
        mask (ndarray, optional): ``[49]`` availability (None = all 1).
        dst (str): A convention in :data:`CONVENTIONS`.

    Returns:
        tuple: ``keypoints [..., K, C]`` and ``mask [K]`` (uint8), zero for
        keypoints SPIN's 49 does not define.
    """
    num, index = _lookup(dst)
    if keypoints.shape[-2] != NUM_JOINTS:
        raise ValueError(f'expected {NUM_JOINTS} keypoints, found '
                         f'{keypoints.shape[-2]}')
    mask49 = (
        np.ones(NUM_JOINTS, np.uint8) if mask is None else
        (np.asarray(mask).reshape(-1) > 0).astype(np.uint8))
    present = index >= 0
    out = np.zeros(
        keypoints.shape[:-2] + (num, keypoints.shape[-1]),
        dtype=keypoints.dtype)
    out[..., index[present], :] = keypoints[..., present, :]
    out_mask = np.zeros(num, np.uint8)
    out_mask[index[present]] = mask49[present]
    return out, out_mask


def compress_keypoints(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mmhuman3d's ``compress_keypoints_by_mask``: keep columns with mask 1.

    Args:
        values (ndarray): ``[..., K, C]``.
        mask (ndarray): ``[K]``.

    Returns:
        ndarray: ``[..., K', C]``, K' = number of ones in ``mask``.
    """
    return values[..., np.asarray(mask).reshape(-1) > 0, :]
