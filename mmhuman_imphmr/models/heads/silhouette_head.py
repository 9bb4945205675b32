"""Geometric guidance branch: silhouette from the rendered feature map.

Paper sec. 3.3 / 6.1: "5 layers of transposed convolution along with BN and
ReLU", output 128x128, used only for training, supervised with the squared L2
distance to the GT silhouette of the mesh seen from the same view.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.typing import OptConfigType
from ..losses import silhouette_loss


@MODELS.register_module()
class SilhouetteHead(BaseModule):
    """Deconvolution decoder ``C x s x s -> 1 x 128 x 128`` (logits).

    Choices the paper leaves open (named arguments):

    * Widths: five ``ConvTranspose2d(k=4, s=2, p=1) + BN + ReLU`` blocks of
      ``channels`` (default 256, 128, 64, 32, 16: an assumption, halving the
      width as the resolution doubles keeps every block at the same cost;
      a constant 256 makes this training-only branch cost as much as the
      ResNet-50 backward), i.e. the paper's 5 layers literally, each
      doubling the size: 4 -> 128.
    * Output: a ReLU cannot end a logit/probability layer (it would clamp
      half of the range to a constant), so a ``1 x 1`` convolution after the
      fifth block maps the features to one logit channel, with no BN/ReLU.
      The loss applies a sigmoid.
    * Other map sizes (1, 2, 6 in the paper's ablation): the map is first
      resized to ``input_size x input_size`` (bilinear up, adaptive average
      pooling down), so the decoder is the same network for every map size
      and the comparison isolates the rendering resolution.

    Args:
        in_channels (int): Channels of the rendered map. Defaults to 2048.
        channels (Sequence[int]): Width of each deconv block. Defaults to
            ``(256, 128, 64, 32, 16)``.
        input_size (int): Side the map is resized to. Defaults to 4.
        out_size (int): Output side; must equal
            ``input_size * 2 ** len(channels)``. Defaults to 128.
        loss_weight (float): lambda_silh. Defaults to 30 (paper).
        init_cfg (dict, optional): MMEngine init config. Defaults to Kaiming
            init for the deconvolutions.

    Note:
        N: samples (``B * V``), C: ``in_channels``, s: rendered map side.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 channels: Sequence[int] = (256, 128, 64, 32, 16),
                 input_size: int = 4,
                 out_size: int = 128,
                 loss_weight: float = 30.,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='ConvTranspose2d', mode='fan_out',
                     nonlinearity='relu'),
                dict(type='Constant', val=1, bias=0, layer='BatchNorm2d'),
            ]
        super().__init__(init_cfg=init_cfg)
        channels = tuple(channels)
        if not channels:
            raise ValueError('SilhouetteHead needs at least one deconv block')
        if input_size * 2**len(channels) != out_size:
            raise ValueError(
                f'SilhouetteHead: input_size {input_size} doubled '
                f'{len(channels)} times is {input_size * 2**len(channels)}, '
                f'not out_size {out_size}')
        self.in_channels = in_channels
        self.input_size = input_size
        self.out_size = out_size
        self.loss_weight = loss_weight
        layers = []
        prev = in_channels
        for width in channels:
            layers += [
                nn.ConvTranspose2d(prev, width, 4, stride=2, padding=1,
                                   bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            prev = width
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(prev, 1, kernel_size=1)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        size = self.input_size
        if x.shape[-2:] == (size, size):
            return x
        if x.shape[-2] >= size and x.shape[-1] >= size:
            return F.adaptive_avg_pool2d(x, size)
        return F.interpolate(x, size=(size, size), mode='bilinear',
                             align_corners=False)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Decode silhouette logits.

        Args:
            feature_map (Tensor[N, C, s, s]): Rendered feature maps.

        Returns:
            Tensor[N, 1, 128, 128]: Logits (``sigmoid`` gives the mask).
        """
        if feature_map.dim() != 4 or feature_map.shape[1] != self.in_channels:
            raise ValueError(f'SilhouetteHead expects [N, {self.in_channels}, '
                             f'H, W], found {tuple(feature_map.shape)}')
        x = self._resize(feature_map)  # (N, C, input_size, input_size)
        return self.final_layer(self.deconv_layers(x))

    def loss_by_feat(self,
                     logits: torch.Tensor,
                     target: torch.Tensor,
                     sample_weight: Optional[torch.Tensor] = None,
                     prefix: str = 'imag') -> Dict[str, torch.Tensor]:
        """lambda_silh * squared L2 between ``sigmoid(logits)`` and target.

        Args:
            logits (Tensor[N, 1, H, W] | Tensor[N, H, W]): :meth:`forward`.
            target (Tensor[N, H, W]): 0/1 GT silhouette of the same view.
            sample_weight (Tensor[N], optional): Per-sample weight.
            prefix (str): Key ``loss_{prefix}_silhouette``. Defaults to
                ``'imag'`` (the term belongs to L_imag).

        Returns:
            dict: ``{'loss_{prefix}_silhouette': Tensor[]}``.
        """
        loss = silhouette_loss(logits, target, sample_weight)
        return {f'loss_{prefix}_silhouette': self.loss_weight * loss}
