"""Foreground attention of ImpHMR: CBAM's spatial attention (Woo et al., 2018).

ImpHMR (sec. 3.3, 6.1) filters the backbone map with the *spatial* gate of CBAM
before global average pooling, so that ``z_fg`` is dominated by the person.
"""
import torch
import torch.nn as nn

from mmhuman_imphmr.registry import MODELS


@MODELS.register_module()
class SpatialAttention(nn.Module):
    """CBAM spatial attention: channel max and mean -> k x k conv -> sigmoid.

    The map is multiplied by the attention mask, which is shared by all
    channels.

    Args:
        kernel_size (int): Side of the convolution. Defaults to 7 (CBAM).
        with_norm (bool): Put a BatchNorm after the convolution (and drop the
            conv bias), as CBAM's public code does. The paper only says
            "spatial attention of [60]"; an assumption. Defaults to True.

    Note:
        B: batch, C: channels, h x w: spatial size of the backbone map.
    """

    def __init__(self, kernel_size: int = 7, with_norm: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                'SpatialAttention: kernel_size must be odd to keep '
                f'the map size, found {kernel_size}')
        self.conv = nn.Conv2d(
            2, 1, kernel_size, padding=kernel_size // 2, bias=not with_norm)
        self.norm = nn.BatchNorm2d(1) if with_norm else nn.Identity()

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The mask alone.

        Args:
            x (Tensor[B, C, h, w]): Feature map.

        Returns:
            Tensor[B, 1, h, w]: Values in (0, 1).
        """
        pooled = torch.cat(
            [x.amax(dim=1, keepdim=True),
             x.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, h, w)
        return torch.sigmoid(self.norm(self.conv(pooled)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate ``x``.

        Args:
            x (Tensor[B, C, h, w]): Feature map.

        Returns:
            Tensor[B, C, h, w]: ``x`` times the spatial mask.
        """
        if x.dim() != 4:
            raise ValueError('SpatialAttention expects Tensor[B, C, h, w], '
                             f'found shape {tuple(x.shape)}')
        return x * self.attention_map(x)
