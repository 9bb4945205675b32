"""Datasets: HumanData files, the mixing sampler and data transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .human_data_cache import HumanDataError
from .human_data_io import (NumpyOnlyUnpickler, load_human_data,
                            load_pickle_numpy_only, save_human_data)
from .human_image_dataset import HumanImageDataset
from .keypoint_mapping import (CONVENTIONS, SMPL49_KEYPOINT_NAMES, from_smpl49,
                               to_smpl49)
from .label_type import (LabelTypeWarning, check_label_type, infer_label_type,
                         resolve_label_type)
from .samplers import MixDatasetSampler
# after HumanImageDataset, its base class
from .synthetic import (SyntheticHumanDataset, ensure_synthetic_dataset,
                        generate_synthetic_dataset)

__all__ = [
    'HumanImageDataset', 'SyntheticHumanDataset', 'MixDatasetSampler',
    'HumanDataError', 'NumpyOnlyUnpickler', 'load_human_data',
    'load_pickle_numpy_only', 'save_human_data', 'CONVENTIONS',
    'SMPL49_KEYPOINT_NAMES', 'from_smpl49', 'to_smpl49',
    'ensure_synthetic_dataset', 'generate_synthetic_dataset',
    'LabelTypeWarning', 'check_label_type', 'infer_label_type',
    'resolve_label_type'
]
