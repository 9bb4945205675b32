"""Metrics (one BaseMetric per family)."""
from .esv_metric import ESVMetric
from .mesh_metric import MeshMetric
from .unseen_view_metric import UnseenViewMetric

__all__ = ['MeshMetric', 'ESVMetric', 'UnseenViewMetric']
