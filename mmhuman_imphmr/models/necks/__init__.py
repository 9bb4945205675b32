"""Necks: backbone map (+ azimuths) -> :class:`NeckOutput` per view."""
from .base_view_neck import BaseViewNeck, NeckOutput
from .feature_field_neck import FeatureFieldNeck
from .global_pool_neck import GlobalPoolNeck
from .latent_mlp_neck import LatentMLPNeck
from .ptn_neck import PTNNeck

__all__ = [
    'BaseViewNeck', 'NeckOutput', 'FeatureFieldNeck', 'GlobalPoolNeck',
    'LatentMLPNeck', 'PTNNeck'
]
