"""The embedded synthetic dataset: generator and self-generating dataset."""
from .generator import ensure_synthetic_dataset, generate_synthetic_dataset
from .pose_sampler import (JOINT_LIMITS, global_orient_from_angles,
                           sample_betas, sample_body_pose,
                           sample_global_orient, sample_view_angles)
from .synthetic_human_dataset import SyntheticHumanDataset

__all__ = [
    'generate_synthetic_dataset', 'ensure_synthetic_dataset',
    'SyntheticHumanDataset', 'JOINT_LIMITS', 'sample_body_pose',
    'sample_global_orient', 'sample_betas', 'sample_view_angles',
    'global_orient_from_angles'
]
