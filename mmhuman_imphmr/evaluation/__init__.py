"""Evaluation: numpy metric functions and registered metrics."""
from .functional import (align_by_joint, embedding_shape_variance, mpjpe,
                         pa_mpjpe, pve, similarity_procrustes)
from .metrics import ESVMetric, MeshMetric

__all__ = [
    'align_by_joint', 'embedding_shape_variance', 'mpjpe', 'pa_mpjpe', 'pve',
    'similarity_procrustes', 'MeshMetric', 'ESVMetric'
]
