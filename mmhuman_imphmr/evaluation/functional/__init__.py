"""Pure numpy metric functions."""
from .gender import GENDER_CODES, GENDERS, gender_name
from .keypoint_errors import (align_by_joint, mpjpe, pa_mpjpe, pve,
                              similarity_procrustes)
from .prediction_spread import is_constant, prediction_spread
from .shape_view_entanglement import shape_view_entanglement

__all__ = [
    'align_by_joint', 'mpjpe', 'pa_mpjpe', 'pve', 'similarity_procrustes',
    'shape_view_entanglement', 'prediction_spread', 'is_constant',
    'gender_name', 'GENDERS', 'GENDER_CODES'
]
