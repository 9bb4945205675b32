"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .epoch_seed_hook import EpochSeedHook
from .mesh_visualization_hook import MeshVisualizationHook

__all__ = ['MeshVisualizationHook', 'AtomicCheckpointHook', 'EpochSeedHook']
