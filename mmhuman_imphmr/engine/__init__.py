"""Engine components used by MMEngine's Runner: hooks, the fault-tolerant
runner, safe checkpoint loading, atomic writes and the non-finite loss
check."""
from .amp_optim_wrapper import AmpOptimWrapper, cpu_bf16_support
from .atomic_io import (atomic_dump_json, atomic_write, atomic_write_bytes,
                        atomic_write_text)
from .fault_tolerant_runner import (FaultTolerantRunner,
                                    find_resumable_checkpoint)
from .hooks import (AtomicCheckpointHook, EpochSeedHook, MeshVisualizationHook,
                    ProgressHook)
from .nonfinite_loss import (NonFiniteCheckDDP, NonFiniteLossError,
                             NonFiniteLossMixin, checked_train_step)
from .safe_load import (CheckpointLoadError, CheckpointMismatchError,
                        check_state_dict, checkpoint_safe_globals,
                        load_state_dict_checked, safe_load_checkpoint)

__all__ = [
    'AmpOptimWrapper', 'cpu_bf16_support', 'MeshVisualizationHook',
    'ProgressHook', 'AtomicCheckpointHook', 'EpochSeedHook',
    'FaultTolerantRunner', 'find_resumable_checkpoint', 'atomic_write',
    'atomic_write_bytes', 'atomic_write_text', 'atomic_dump_json',
    'NonFiniteLossMixin', 'NonFiniteCheckDDP', 'NonFiniteLossError',
    'checked_train_step', 'CheckpointMismatchError', 'check_state_dict',
    'checkpoint_safe_globals', 'load_state_dict_checked',
    'CheckpointLoadError', 'safe_load_checkpoint'
]
