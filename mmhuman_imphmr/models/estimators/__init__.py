from .imphmr import ImpHMR
from .loss_routing import (DEFAULT_ROUTES, DEFAULT_TERMS, LOSS_TERMS,
                           LabelTypeRouting, ViewPlan, sample_angles)
from .view_supervision import rotate_targets_to_view, stack_targets

__all__ = [
    'ImpHMR', 'LabelTypeRouting', 'ViewPlan', 'DEFAULT_ROUTES',
    'DEFAULT_TERMS', 'LOSS_TERMS', 'stack_targets', 'sample_angles',
    'rotate_targets_to_view'
]
