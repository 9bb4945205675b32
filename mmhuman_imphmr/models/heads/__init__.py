from .silhouette_head import SilhouetteHead
from .smpl_regression_head import SMPLRegressionHead

__all__ = ['SMPLRegressionHead', 'SilhouetteHead']
