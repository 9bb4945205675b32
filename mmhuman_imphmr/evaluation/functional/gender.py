"""A data sample's gender as the name of a body model (no torch needed)."""
from typing import Any

import numpy as np

GENDERS = ('neutral', 'male', 'female')
# Names accepted for a sample's gender (case and surrounding blanks ignored).
# '' is "no gender recorded", as in the HumanData cache: the neutral model.
GENDER_NAMES = {
    'neutral': 'neutral',
    'n': 'neutral',
    '': 'neutral',
    'male': 'male',
    'm': 'male',
    'female': 'female',
    'f': 'female'
}
# Integer codes of SPIN / PARE (``0 if gender == 'm' else 1``) and of
# mmhuman3d's GenderedSMPL. Any other integer is refused: that convention has
# no integer for "neutral" (SPIN's -1 means "unknown"), and other codes (e.g.
# this package's internal HumanData cache, where 0 = neutral) must be turned
# into names before they reach a metric.
GENDER_CODES = {0: 'male', 1: 'female'}

_EXPECTED = ('expected "male" / "female" / "neutral" (or "m" / "f" / "n"), '
             'or the SPIN / PARE integer codes 0 = male, 1 = female')


def gender_name(value: Any, sample_name: str = 'a data sample') -> str:
    """A sample's gender as one of :data:`GENDERS`.

    ``None`` or ``''`` (no gender recorded) is ``'neutral'``; names as in
    :data:`GENDER_NAMES` (``'m'``, ``'Female'``, bytes too); the SPIN / PARE
    integer codes :data:`GENDER_CODES` (``0`` = male, ``1`` = female: Python
    or numpy integers, one-element arrays or tensors). Everything else
    raises: a gender code silently read as neutral (as ``str(0 or
    'neutral')`` did) evaluates a gendered 3DPW sample against the wrong GT
    mesh.

    Args:
        value: The ``gender`` of a data sample.
        sample_name (str): How the error names the sample.

    Returns:
        str: ``'neutral'``, ``'male'`` or ``'female'``.

    Raises:
        ValueError: Unknown name or code, a float, a bool, or an array of
            more than one value.
    """
    original = value
    if hasattr(value, 'detach'):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f'data sample ({sample_name}) has gender '
                             f'{original!r} of shape {value.shape}, not one '
                             f'value; {_EXPECTED}')
        value = value.reshape(()).item()
    if value is None:
        return 'neutral'
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    is_bool = isinstance(value, (bool, np.bool_))
    if is_bool or not isinstance(value, (str, int, np.integer)):
        raise ValueError(f'data sample ({sample_name}) has gender '
                         f'{original!r} of type {type(original).__name__}; '
                         f'{_EXPECTED}')
    if isinstance(value, str):
        name = GENDER_NAMES.get(value.strip().lower())
        if name is None:
            hint = (' (a code written as text: give the name or the integer)'
                    if value.strip().lstrip('-').isdigit() else '')
            raise ValueError(f'data sample ({sample_name}) has unknown '
                             f'gender {original!r}{hint}; {_EXPECTED}')
        return name
    if int(value) not in GENDER_CODES:
        raise ValueError(f'data sample ({sample_name}) has unknown gender '
                         f'code {original!r}; {_EXPECTED}. Give "neutral" '
                         f'explicitly for a sample without gender')
    return GENDER_CODES[int(value)]
