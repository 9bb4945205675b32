"""``AmpOptimWrapper`` that also trains on the CPU (bf16 autocast).

MMEngine's ``AmpOptimWrapper`` asserts an accelerator, so ``--amp`` (which,
as in mmpose's ``tools/train.py``, sets ``optim_wrapper.type =
'AmpOptimWrapper'``) could not run on a CPU. This class is registered under
the same name in this package's ``OPTIM_WRAPPERS`` child registry, so configs
with ``default_scope='mmhuman_imphmr'`` get it:

* on CUDA (and the other accelerators MMEngine knows) it *is* MMEngine's
  wrapper: fp16 with a dynamic ``GradScaler`` by default, ``dtype='bfloat16'``
  for bf16;
* on the CPU it runs the forward and the loss under
  ``torch.autocast('cpu', dtype=torch.bfloat16)`` when the CPU has bf16
  matrix units (AVX512-BF16 or AMX, the ones oneDNN uses for bf16 GEMMs and
  convolutions); on other CPUs bf16 is emulated and slower than float32, so
  the wrapper logs one line and trains in float32. ``force=True`` runs bf16
  anyway (tests, numerics checks). bf16 keeps float32's exponent range, so no
  loss scaling is needed (or done) on the CPU; fp16 autocast on the CPU is
  refused by name.

The parts of the model that must stay in float32 under autocast are marked
with :func:`mmhuman_imphmr.utils.precision.fp32_region` (body model, volume
rendering accumulation, silhouette targets, losses); see that module.
"""
import contextlib
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper as MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper

from mmhuman_imphmr.registry import OPTIM_WRAPPERS


def cpu_bf16_support() -> Optional[str]:
    """Name of the CPU's bf16 matrix extension (``'AMX'``,
    ``'AVX512-BF16'``), or ``None`` where it has neither."""
    checks = (('AMX', '_is_amx_tile_supported', 'amx_bf16'),
              ('AVX512-BF16', '_is_avx512_bf16_supported', 'avx512_bf16'))
    flags = set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    for name, probe, flag in checks:
        fn = getattr(torch.cpu, probe, None)
        try:
            if (fn is not None and fn()) or flag in flags:
                return name
        except RuntimeError:
            continue
    return None


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'this CPU'


@OPTIM_WRAPPERS.register_module(name='AmpOptimWrapper')
class AmpOptimWrapper(MMEngineAmpOptimWrapper):
    """Mixed precision on accelerators (MMEngine's) and bf16 on the CPU.

    Args:
        loss_scale: As MMEngine's (accelerators only; ignored on the CPU).
        dtype (str | torch.dtype, optional): Autocast dtype. Defaults to
            float16 on accelerators (MMEngine) and bfloat16 on the CPU.
        use_fsdp (bool): As MMEngine's.
        device (str, optional): ``'cpu'`` or an accelerator type; defaults
            to MMEngine's ``get_device()``.
        force (bool): On a CPU without bf16 units, run bf16 autocast anyway
            (emulated: correct but slower). Defaults to False.
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 use_fsdp: bool = False,
                 device: Optional[str] = None,
                 force: bool = False,
                 **kwargs) -> None:
        self.device_type = (device or get_device()).split(':')[0]
        if self.device_type != 'cpu':
            super().__init__(
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                **kwargs)
            return
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = None
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'AmpOptimWrapper: optim_wrapper.dtype must '
                                 f'be one of {self.valid_dtypes}, found '
                                 f'{dtype!r}')
            dtype = getattr(torch, dtype)
        dtype = torch.bfloat16 if dtype is None else dtype
        if dtype == torch.float16:
            raise ValueError(
                'AmpOptimWrapper: optim_wrapper.dtype=float16 is not '
                'supported on the CPU (no fp16 autocast kernels worth using '
                'and no loss scaling here); use bfloat16 (the default)')
        self.cast_dtype = dtype
        self.enabled = dtype in (torch.bfloat16, ) and (
            force or cpu_bf16_support() is not None)
        if dtype == torch.bfloat16 and not self.enabled:
            print_log(
                f'AMP: {cpu_name()} has no bf16 matrix units (AVX512-BF16 or '
                'AMX), where bf16 is emulated and slower than float32: '
                'training in float32 (optim_wrapper.force=True runs bf16 '
                'anyway)',
                logger='current')
        elif self.enabled:
            print_log(
                f'AMP: bf16 autocast on the CPU '
                f'({cpu_bf16_support() or "forced"})',
                logger='current')

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.device_type != 'cpu':
            return super().backward(loss, **kwargs)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.device_type != 'cpu':
            return super().step(**kwargs)
        OptimWrapper.step(self, **kwargs)

    def state_dict(self) -> dict:
        if self.device_type != 'cpu':
            return super().state_dict()
        return OptimWrapper.state_dict(self)

    def load_state_dict(self, state_dict: dict) -> None:
        if self.device_type != 'cpu':
            return super().load_state_dict(state_dict)
        # A checkpoint of a GPU run carries its GradScaler; bf16 on the CPU
        # has none to restore.
        state_dict = dict(state_dict)
        state_dict.pop('loss_scaler', None)
        OptimWrapper.load_state_dict(self, state_dict)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        if self.device_type != 'cpu':
            with super().optim_context(model):
                yield
            return
        with OptimWrapper.optim_context(self, model), torch.autocast(
                'cpu',
                dtype=self.cast_dtype or torch.bfloat16,
                enabled=self.enabled):
            yield
