"""Evaluation: numpy metric functions and registered metrics."""
from .functional import (align_by_joint, gender_name, is_constant, mask_iou,
                         mpjpe, pa_mpjpe, prediction_spread, pve,
                         rotation_angle_deg, shape_view_entanglement,
                         similarity_procrustes, view_target_joints,
                         view_target_orient)
from .metrics import ESVMetric, MeshMetric, UnseenViewMetric

__all__ = [
    'align_by_joint', 'shape_view_entanglement', 'mpjpe', 'pa_mpjpe', 'pve',
    'similarity_procrustes', 'prediction_spread', 'is_constant', 'gender_name',
    'rotation_angle_deg', 'view_target_joints', 'view_target_orient',
    'mask_iou', 'MeshMetric', 'ESVMetric', 'UnseenViewMetric'
]
