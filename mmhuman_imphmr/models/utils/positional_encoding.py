"""Frequency positional encoding of NeRF / GIRAFFE (ImpHMR eq. 1)."""
import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    """``gamma(t) = [sin(2^k pi s t), cos(2^k pi s t)]`` for ``k < L``.

    Applied to every coordinate. The layout is, per octave ``k``, the ``D``
    sines followed by the ``D`` cosines (GIRAFFE's layout). As in GIRAFFE's
    decoder the raw input is **not** concatenated by default
    (``include_input=False``): the paper's eq. 1 lists only sines and cosines.

    Args:
        num_octaves (int): ``L``, the number of frequencies (10 for points,
            4 for ray directions in the paper).
        input_dim (int): ``D``, coordinates per input. Defaults to 3.
        input_scale (float): ``s``, multiplies the input first. GIRAFFE's
            object decoder divides points by 2 so that its [-1, 1] box maps to
            [-0.5, 0.5]. Defaults to 1.
        include_input (bool): Prepend ``s t`` itself. Defaults to False.

    Note:
        D: input dimension, L: octaves.
    """

    def __init__(self,
                 num_octaves: int,
                 input_dim: int = 3,
                 input_scale: float = 1.0,
                 include_input: bool = False) -> None:
        super().__init__()
        if num_octaves < 0:
            raise ValueError('PositionalEncoding: num_octaves must be >= 0, '
                             f'found {num_octaves}')
        self.num_octaves = num_octaves
        self.input_dim = input_dim
        self.input_scale = input_scale
        self.include_input = include_input
        freqs = math.pi * 2.0**torch.arange(num_octaves, dtype=torch.float32)
        self.register_buffer('freqs', freqs, persistent=False)

    @property
    def out_dim(self) -> int:
        """Length of the encoding: ``D (2 L + include_input)``."""
        return self.input_dim * (2 * self.num_octaves +
                                 int(self.include_input))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode.

        Args:
            x (Tensor[..., D]): Coordinates.

        Returns:
            Tensor[..., D (2 L + include_input)]
        """
        if x.shape[-1] != self.input_dim:
            raise ValueError(f'PositionalEncoding expects Tensor[..., '
                             f'{self.input_dim}], found {tuple(x.shape)}')
        x = x * self.input_scale
        angles = x.unsqueeze(-2) * self.freqs.to(x.dtype).unsqueeze(
            -1)  # (..., L, D)
        enc = torch.cat([torch.sin(angles),
                         torch.cos(angles)], dim=-1)  # (..., L, 2D)
        enc = enc.flatten(-2)  # (..., 2 L D)
        if self.include_input:
            enc = torch.cat([x, enc], dim=-1)
        return enc
