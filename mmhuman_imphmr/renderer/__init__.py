"""Mesh rasterization: silhouette targets, synthetic images, demo overlays."""
from .mesh_rasterizer import MeshRasterizer
from .pytorch3d_rasterizer import PyTorch3DRasterizer
from .shading import shade_fragments, vertex_normals
from .view_silhouette import render_view_silhouettes

__all__ = [
    'MeshRasterizer', 'PyTorch3DRasterizer', 'shade_fragments',
    'vertex_normals', 'render_view_silhouettes'
]
