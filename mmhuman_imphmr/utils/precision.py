"""Full-precision regions inside mixed-precision (autocast) training.

Under ``torch.autocast`` matrix products and convolutions run in bf16/fp16.
That is what makes the backbone, the feature field's MLP and the decoders
fast, and it is harmless there (their inputs are activations, and the
optimiser keeps fp32 master weights). Some parts of ImpHMR are not like
that and run in float32 whatever the autocast state:

* the SMPL body model (blend shapes, linear blend skinning): vertex offsets
  are millimetres on a metre-sized body, below bf16's 8-bit mantissa
  (relative step 2^-8 = 0.4%, 7 mm at 1.7 m) -- joint errors of that size
  would swamp the keypoint losses;
* the ray samples (camera rotation applied to the pixel directions, a
  matrix product): the field's positional encoding multiplies the points by
  up to 2^9 pi / 2, so bf16's rounding of a point (about 4 mm on the box)
  would become a phase error of over a radian at its top octave;
* the volume-rendering accumulation (density -> alpha -> transmittance by a
  cumulative product over the samples, eq. 4): a product of 32 factors in
  bf16 loses the small transmittances a nearly opaque ray ends with;
* the silhouette targets (rasterizer) and the losses (sums of many small
  squared errors).

:func:`full_precision` disables autocast for a block; :func:`float32` casts
tensors that come out of an autocast region back to float32.
"""
import contextlib
import functools
from typing import Any, Callable, Iterator

import torch


def _autocast_devices() -> tuple:
    devices = []
    for device in ('cpu', 'cuda'):
        try:
            if torch.is_autocast_enabled(device):
                devices.append(device)
        except (RuntimeError, TypeError):  # device type unknown here
            continue
    return tuple(devices)


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Disable every active autocast (CPU and CUDA) inside the block."""
    with contextlib.ExitStack() as stack:
        for device in _autocast_devices():
            stack.enter_context(
                torch.autocast(device_type=device, enabled=False))
        yield


def float32(value: Any) -> Any:
    """``value`` with floating tensors (also inside dicts, lists and tuples)
    cast to float32; other values unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return type(value)((k, float32(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(float32(v) for v in value)
    return value


def fp32_region(fn: Callable) -> Callable:
    """Decorator: run ``fn`` with autocast off and its floating tensor
    arguments cast to float32 (mmcv's ``force_fp32`` in spirit)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _autocast_devices():
            return fn(*args, **kwargs)
        with full_precision():
            return fn(*float32(args), **float32(kwargs))

    return wrapper
