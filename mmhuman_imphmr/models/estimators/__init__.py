from .imphmr import ImpHMR
from .view_supervision import (fit_weak_perspective,
                               render_silhouette_targets,
                               rotate_targets_to_view, sample_angles,
                               stack_targets, term_weights)

__all__ = [
    'ImpHMR', 'stack_targets', 'sample_angles', 'rotate_targets_to_view',
    'fit_weak_perspective', 'render_silhouette_targets',
    'term_weights'
]
