"""High-level inference API (build a model, find people, run it on boxes)."""
from .bbox_files import BoxTable, load_bbox_file
from .detection import OpenCVPersonDetector, detect_people
from .inference import (inference_mesh, inference_mesh_batch, init_model,
                        load_checkpoint_state_dict)

__all__ = [
    'init_model', 'inference_mesh', 'inference_mesh_batch',
    'load_checkpoint_state_dict', 'OpenCVPersonDetector', 'detect_people',
    'BoxTable', 'load_bbox_file'
]
