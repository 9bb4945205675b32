"""Metrics (one BaseMetric per family)."""
from .esv_metric import ESVMetric
from .mesh_metric import MeshMetric

__all__ = ['MeshMetric', 'ESVMetric']
