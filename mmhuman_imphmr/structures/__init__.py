from .mesh_data_sample import MeshDataSample

__all__ = ['MeshDataSample']
