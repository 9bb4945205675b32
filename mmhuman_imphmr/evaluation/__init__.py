"""Evaluation: numpy metric functions and registered metrics."""
from .functional import (align_by_joint, gender_name, is_constant, mpjpe,
                         pa_mpjpe, prediction_spread, pve,
                         shape_view_entanglement, similarity_procrustes)
from .metrics import ESVMetric, MeshMetric

__all__ = [
    'align_by_joint', 'shape_view_entanglement', 'mpjpe', 'pa_mpjpe', 'pve',
    'similarity_procrustes', 'prediction_spread', 'is_constant',
    'gender_name', 'MeshMetric', 'ESVMetric'
]
