"""Sub-blocks of the models: attention, positional encoding, feature field,
volume renderer, map aggregation and the small-map GEMM convolutions."""
from .feature_field import FeatureField
from .gemm_conv import GemmConv2d, GemmConvTranspose2d
from .map_aggregation import AGGREGATIONS, MapAggregation
from .positional_encoding import PositionalEncoding
from .spatial_attention import SpatialAttention
from .volume_renderer import DENSITY_ACTIVATIONS, VolumeRenderer

__all__ = [
    'FeatureField', 'GemmConv2d', 'GemmConvTranspose2d', 'MapAggregation',
    'AGGREGATIONS', 'PositionalEncoding', 'SpatialAttention', 'VolumeRenderer',
    'DENSITY_ACTIVATIONS'
]
