"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .epoch_seed_hook import EpochSeedHook
from .loss_weight_switch_hook import LossWeightSwitchHook
from .mesh_visualization_hook import MeshVisualizationHook
from .progress_hook import ProgressHook
from .validate_before_train_hook import ValidateBeforeTrainHook

__all__ = [
    'MeshVisualizationHook', 'AtomicCheckpointHook', 'EpochSeedHook',
    'ValidateBeforeTrainHook', 'ProgressHook', 'LossWeightSwitchHook'
]
