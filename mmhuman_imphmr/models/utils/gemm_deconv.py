"""A transposed convolution that small, wide inputs run as one matrix product.

The first block of the silhouette decoder turns a ``2048 x 4 x 4`` map into
``256 x 8 x 8``: 16 input pixels, an 8.4 M-parameter kernel. oneDNN's CPU
deconvolution is slow on that shape (forward + backward measured 2.5x the
time of the same arithmetic as a matrix product, single thread, AMD EPYC;
``tools/analysis/benchmark_fps.py --train-step`` shows the effect on a whole
step). A transposed convolution is by definition a product of every input
pixel's channel vector with the kernel, ``cols = x^T W`` with
``W: C_in x (C_out k_h k_w)``, whose ``k_h x k_w`` patches are summed into the
output at ``stride`` steps (``F.fold``, the adjoint of ``F.unfold``), so the
result equals ``F.conv_transpose2d`` up to float rounding (a test checks
values and gradients). Larger maps (where the deconvolution is the faster
kernel) and other devices use :class:`torch.nn.ConvTranspose2d` as is.
"""
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
