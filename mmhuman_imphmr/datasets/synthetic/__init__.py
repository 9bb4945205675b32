"""The embedded synthetic dataset: generator and self-generating dataset."""
from .generator import (generate_synthetic_dataset, ensure_synthetic_dataset)
from .pose_sampler import (JOINT_LIMITS, sample_betas, sample_body_pose,
                           sample_global_orient)
from .synthetic_human_dataset import SyntheticHumanDataset

__all__ = [
    'generate_synthetic_dataset', 'ensure_synthetic_dataset',
    'SyntheticHumanDataset', 'JOINT_LIMITS', 'sample_body_pose',
    'sample_global_orient', 'sample_betas'
]
