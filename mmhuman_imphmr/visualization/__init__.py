"""Visualisation: body-part colours and the mesh visualizer."""
from .body_part_colors import (BODY_PART_PALETTE, BODY_PARTS, body_part_colors,
                               uniform_colors, vertex_part_labels)
from .mesh_visualizer import MeshVisualizer, default_vis_backends

__all__ = [
    'BODY_PARTS', 'BODY_PART_PALETTE', 'body_part_colors', 'uniform_colors',
    'vertex_part_labels', 'MeshVisualizer', 'default_vis_backends'
]
