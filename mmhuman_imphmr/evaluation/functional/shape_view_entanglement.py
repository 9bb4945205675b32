"""ESV, the Entanglement between Shape and Viewing direction (pure numpy).

ImpHMR, sec. 4.2 ("Results from Different Viewing Directions", Table 3);
defined in the supplementary material, sec. 6.3 ("Entanglement
Measurement").
"""
import numpy as np


def shape_view_entanglement(betas_views: np.ndarray) -> np.ndarray:
    """ESV of each sample: spread of the predicted shape over the views.

    For one sample the model predicts β(φ) at A azimuths (the paper:
    φ = 0°, 1°, ..., 359°). Per shape coefficient k the population standard
    deviation over the A views is taken (``ddof=0``, the paper's 1/360),
    then the mean over the coefficients. A view-invariant shape prediction
    gives 0 (so does a model that ignores φ altogether: see
    :class:`~mmhuman_imphmr.evaluation.ESVMetric` for the checks that tell
    the two apart).

    Args:
        betas_views (ndarray): ``[N, A, 10]`` (or ``[A, 10]`` for one sample).

    Returns:
        ndarray: ``[N]`` ESV per sample (average over N for the dataset).
    """
    betas_views = np.asarray(betas_views, np.float64)
    if betas_views.ndim == 2:
        betas_views = betas_views[None]
    if betas_views.ndim != 3 or betas_views.shape[1] < 1:
        raise ValueError(f'betas_views must be [N, A, B] with A >= 1 views, '
                         f'found {betas_views.shape}')
    return betas_views.std(axis=1, ddof=0).mean(axis=1)
