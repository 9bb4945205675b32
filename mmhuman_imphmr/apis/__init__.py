"""High-level inference API (build a model, run it on person boxes)."""
from .inference import (inference_mesh, init_model,
                        load_checkpoint_state_dict)

__all__ = ['init_model', 'inference_mesh', 'load_checkpoint_state_dict']
