"""Pure numpy metric functions."""
from .keypoint_errors import (align_by_joint, mpjpe, pa_mpjpe, pve,
                              similarity_procrustes)
from .shape_variance import embedding_shape_variance

__all__ = [
    'align_by_joint', 'mpjpe', 'pa_mpjpe', 'pve', 'similarity_procrustes',
    'embedding_shape_variance'
]
