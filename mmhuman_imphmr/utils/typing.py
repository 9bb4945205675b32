"""Type aliases shared by the package."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import ConfigDict

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
ArrayLike = Union[np.ndarray, torch.Tensor]
Tensors = Union[torch.Tensor, Tuple[torch.Tensor, ...], List[torch.Tensor]]
LossDict = Dict[str, torch.Tensor]

__all__ = [
    'ConfigType', 'OptConfigType', 'ArrayLike', 'Tensors', 'LossDict',
    'Sequence'
]
