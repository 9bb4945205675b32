"""Does a prediction depend on its input at all? (pure numpy)

A model whose output is one constant (a feature field that renders nothing,
a collapsed regressor) still gets finite, even flattering, metric values:
ESV is exactly 0 and MPJPE is that of a mean pose. These helpers measure the
spread of the predictions over the evaluated samples so the metrics can say
so.
"""
import numpy as np


def prediction_spread(values: np.ndarray) -> float:
    """Mean over the components of the population std over the samples.

    The same statistic as ESV (:func:`shape_view_entanglement`), taken over
    the N samples instead of the A views.

    Args:
        values (ndarray): ``[N, ...]``, e.g. ``[N, 10]`` betas or
            ``[N, 14, 3]`` joints; ``N >= 1``.

    Returns:
        float: 0 when all N predictions are equal.
    """
    values = np.asarray(values, np.float64)
    if values.ndim < 1 or values.shape[0] < 1:
        raise ValueError(f'values must be [N, ...] with N >= 1, found '
                         f'{values.shape}')
    return float(values.reshape(values.shape[0], -1).std(axis=0).mean())


def is_constant(spread: float, scale: float, rtol: float, atol: float) -> bool:
    """``spread <= atol + rtol * scale`` (numpy's ``isclose`` convention).

    Args:
        spread (float): A spread, e.g. from :func:`prediction_spread`.
        scale (float): Typical magnitude of the values, e.g. their mean
            absolute value.
        rtol (float): Relative tolerance.
        atol (float): Absolute tolerance.

    Returns:
        bool: Whether the spread is indistinguishable from 0.
    """
    return bool(spread <= atol + rtol * abs(scale))
