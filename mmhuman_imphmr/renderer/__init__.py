"""Mesh rasterization: silhouette targets, synthetic images, demo overlays."""
from .mesh_rasterizer import MeshRasterizer, shade_fragments
from .pytorch3d_rasterizer import PyTorch3DRasterizer
from .view_silhouette import render_view_silhouettes

__all__ = ['MeshRasterizer', 'PyTorch3DRasterizer', 'shade_fragments',
           'render_view_silhouettes']
