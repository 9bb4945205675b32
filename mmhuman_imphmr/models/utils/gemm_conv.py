"""Convolutions that small maps run as one matrix product on the CPU.

oneDNN's CPU kernels are slow on maps of a few pixels with many channels,
backward most of all. Two places in the models have such maps:

- The first block of the silhouette decoder turns a ``2048 x 4 x 4`` map into
  ``256 x 8 x 8``: 16 input pixels, an 8.4 M-parameter kernel. Forward +
  backward of oneDNN's deconvolution measured 2.5x the time of the same
  arithmetic as a matrix product (single thread, AMD EPYC;
  ``tools/analysis/benchmark_fps.py --train-step`` shows the effect on a
  whole step). A transposed convolution is by definition a product of every
  input pixel's channel vector with the kernel, ``cols = x^T W`` with
  ``W: C_in x (C_out k_h k_w)``, whose ``k_h x k_w`` patches are summed into
  the output at ``stride`` steps (``F.fold``, the adjoint of ``F.unfold``).
- The last ResNet-18 stage of the CPU quick start (64 x 64 crops) runs
  ``512 x 512`` 3x3 convolutions on a 2 x 2 map. Forward + backward,
  batch 16, 2 threads, AMD EPYC: 46.5 ms in oneDNN, 14.7 ms as ``F.unfold``
  (im2col) and one matrix product; the strided ``256 -> 512`` convolution
  onto the 2 x 2 map 12.9 vs 8.4 ms; at 4 x 4 outputs both paths measured
  the same (11.4 vs 11.7 ms), at 8 x 8 and up oneDNN is faster.

Both compute the stock operator's definition, so they equal
``F.conv_transpose2d`` / ``F.conv2d`` up to float rounding (tests check
values and gradients). Larger maps and other devices use the stock
``torch.nn`` layer as is; the parameters and state dict are the stock
layer's, so checkpoints load either way.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """:class:`torch.nn.ConvTranspose2d` (same parameters, same state dict)
    computed as matmul + fold on CPU inputs of at most ``gemm_max_pixels``.

    Args:
        *args, **kwargs: Those of :class:`torch.nn.ConvTranspose2d`.
        gemm_max_pixels (int): Largest ``H * W`` of the input that takes the
            matrix-product path. Defaults to 16 (the 4 x 4 rendered map;
            at 8 x 8 both paths measured the same).
    """

    def __init__(self, *args, gemm_max_pixels: int = 16, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gemm_max_pixels = int(gemm_max_pixels)

    def _gemm_applies(self, x: torch.Tensor) -> bool:
        return (x.dim() == 4 and x.device.type == 'cpu' and self.groups == 1
                and self.dilation == (1, 1) and self.output_padding == (0, 0)
                and self.padding_mode == 'zeros'
                and x.shape[-2] * x.shape[-1] <= self.gemm_max_pixels)

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None or not self._gemm_applies(x):
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        out_h = (h - 1) * sh - 2 * ph + kh
        out_w = (w - 1) * sw - 2 * pw + kw
        # (N, HW, C_in) @ (C_in, C_out*kh*kw): one patch per input pixel.
        cols = torch.matmul(
            x.flatten(2).transpose(1, 2), self.weight.reshape(c, -1))
        out = F.fold(
            cols.transpose(1, 2), (out_h, out_w),
            self.kernel_size,
            stride=self.stride,
            padding=self.padding)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype)
        return out


class GemmConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` (same parameters, same state dict) computed
    as ``F.unfold`` + matmul on CPU inputs whose output has at most
    ``gemm_max_pixels`` pixels.

    Args:
        *args, **kwargs: Those of :class:`torch.nn.Conv2d`.
        gemm_max_pixels (int): Largest ``H_out * W_out`` that takes the
            matrix-product path. Defaults to 4 (a 2 x 2 map; at 4 x 4 both
            paths measured the same, see the module docstring).
    """

    def __init__(self, *args, gemm_max_pixels: int = 4, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gemm_max_pixels = int(gemm_max_pixels)

    def _output_hw(self, x: torch.Tensor) -> Tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph, pw = self.padding
        return ((x.shape[-2] + 2 * ph - kh) // sh + 1,
                (x.shape[-1] + 2 * pw - kw) // sw + 1)

    def _gemm_applies(self, x: torch.Tensor) -> bool:
        if not (x.dim() == 4 and x.device.type == 'cpu' and self.groups == 1
                and self.dilation == (1, 1) and self.padding_mode == 'zeros'
                and not isinstance(self.padding, str)):
            return False
        out_h, out_w = self._output_hw(x)
        return 0 < out_h * out_w <= self.gemm_max_pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._gemm_applies(x):
            return super().forward(x)
        n = x.shape[0]
        out_h, out_w = self._output_hw(x)
        # (N, C_in*kh*kw, L): one column per output pixel.
        cols = F.unfold(
            x, self.kernel_size, padding=self.padding, stride=self.stride)
        out = torch.matmul(
            self.weight.reshape(self.out_channels, -1).to(cols.dtype), cols)
        out = out.view(n, self.out_channels, out_h, out_w)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype)
        return out
