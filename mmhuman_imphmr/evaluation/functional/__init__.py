"""Metric functions (numpy in, numpy out; the unseen-view targets call the
torch rotation helpers of ``mmhuman_imphmr.utils.geometry``)."""
from .gender import GENDER_CODES, GENDERS, gender_name
from .keypoint_errors import (align_by_joint, mpjpe, pa_mpjpe, pve,
                              similarity_procrustes)
from .prediction_spread import is_constant, prediction_spread
from .shape_view_entanglement import shape_view_entanglement
from .unseen_view import (mask_iou, rotation_angle_deg, view_target_joints,
                          view_target_orient)

__all__ = [
    'align_by_joint', 'mpjpe', 'pa_mpjpe', 'pve', 'similarity_procrustes',
    'shape_view_entanglement', 'prediction_spread', 'is_constant',
    'gender_name', 'GENDERS', 'GENDER_CODES', 'rotation_angle_deg',
    'view_target_joints', 'view_target_orient', 'mask_iou'
]
