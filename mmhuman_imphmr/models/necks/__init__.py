"""Necks: backbone map (+ azimuths) -> latent per view."""
from .base_view_neck import BaseViewNeck
from .feature_field_neck import FeatureFieldNeck
from .global_pool_neck import GlobalPoolNeck
from .ptn_neck import PTNNeck

__all__ = ['BaseViewNeck', 'FeatureFieldNeck', 'GlobalPoolNeck', 'PTNNeck']
