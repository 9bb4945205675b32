"""Shared front end of the necks: foreground attention -> GAP -> ``z_fg``."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..utils import SpatialAttention


class BaseViewNeck(nn.Module):
    """Common parts of :class:`FeatureFieldNeck`, :class:`GlobalPoolNeck` and
    :class:`PTNNeck`.

    Subclasses set ``view_aware`` and ``out_channels`` and implement
    ``forward(feats, phi) -> dict(latent, feature_map)``.

    Args:
        in_channels (int): Channels ``C`` of the backbone map.
        use_attention (bool): Apply the foreground (CBAM spatial) attention
            before pooling. Defaults to True (paper).
        attention_kernel (int): Its kernel size. Defaults to 7 (CBAM).

    Note:
        B: batch, V: views per sample, C: channels, h x w: backbone map.
    """

    view_aware: bool = True

    def __init__(self, in_channels: int, use_attention: bool = True,
                 attention_kernel: int = 7) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.use_attention = use_attention
        self.attention = (SpatialAttention(attention_kernel)
                          if use_attention else nn.Identity())

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """``z_fg = GAP(A(z))``.

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.

        Returns:
            Tensor[B, C]
        """
        if feats.dim() != 4 or feats.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects feats Tensor[B, '
                f'{self.in_channels}, h, w], found {tuple(feats.shape)}')
        return self.attention(feats).mean(dim=(2, 3))

    @staticmethod
    def check_phi(phi: Optional[torch.Tensor], batch_size: int,
                  like: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """Default and validate the azimuths.

        Args:
            phi (Tensor[B, V] | Tensor[B] | None): Azimuths in radians.
                ``None`` means the canonical view (``phi = 0``, ``V = 1``); a
                1-D tensor means one view per sample.
            batch_size (int): ``B``.
            like (Tensor): Gives dtype and device for the default.

        Returns:
            tuple: ``phi Tensor[B, V]`` and ``V``.
        """
        if phi is None:
            phi = like.new_zeros(batch_size, 1)
        elif phi.dim() == 1:
            phi = phi.unsqueeze(1)
        if phi.dim() != 2 or phi.shape[0] != batch_size:
            raise ValueError(f'neck: phi must be Tensor[B={batch_size}, V], '
                             f'Tensor[B] or None, found {tuple(phi.shape)}')
        return phi.to(like.dtype), phi.shape[1]

    def forward(self, feats: torch.Tensor,
                phi: Optional[torch.Tensor] = None
                ) -> Dict[str, Optional[torch.Tensor]]:
        raise NotImplementedError
