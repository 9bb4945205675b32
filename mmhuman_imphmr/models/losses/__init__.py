from .keypoint_losses import (Keypoint2DLoss, Keypoint3DLoss,
                              RotationAlignedKeypoint3DLoss, keypoint_2d_loss,
                              keypoint_3d_loss,
                              rotation_aligned_keypoint_3d_loss)
from .silhouette_loss import SilhouetteLoss, silhouette_loss
from .smpl_losses import (BetasLoss, CameraPriorLoss, PoseLoss,
                          ViewConsistencyLoss, betas_loss, camera_prior_loss,
                          pose_loss, view_consistency_loss)
from .utils import mask_invalid_target, weighted_sample_mean

__all__ = [
    'keypoint_2d_loss', 'keypoint_3d_loss',
    'rotation_aligned_keypoint_3d_loss', 'pose_loss', 'betas_loss',
    'camera_prior_loss', 'view_consistency_loss', 'silhouette_loss',
    'weighted_sample_mean', 'mask_invalid_target', 'Keypoint2DLoss',
    'Keypoint3DLoss', 'RotationAlignedKeypoint3DLoss', 'PoseLoss', 'BetasLoss',
    'CameraPriorLoss', 'ViewConsistencyLoss', 'SilhouetteLoss'
]
