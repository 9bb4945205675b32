"""SMPL-aware data transforms (used after mmpose's top-down transforms)."""
from .pack_mesh_inputs import PackMeshInputs
from .pixel_noise import RandomPixelNoise
from .smpl_flip import RandomFlipSMPL, flip_keypoints3d, flip_smpl_pose
from .smpl_rotation import RotateSMPL, crop_rotation_matrix, rotate_smpl_labels

__all__ = [
    'PackMeshInputs', 'RandomPixelNoise', 'RandomFlipSMPL', 'RotateSMPL',
    'flip_smpl_pose', 'flip_keypoints3d', 'crop_rotation_matrix',
    'rotate_smpl_labels'
]
