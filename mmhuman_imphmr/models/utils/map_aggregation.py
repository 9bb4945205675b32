"""``AGG`` of ImpHMR (sec. 3.3): a rendered feature map to one vector."""
import torch
import torch.nn as nn

from mmhuman_imphmr.registry import MODELS

AGGREGATIONS = ('dwconv', 'gap', 'conv')


@MODELS.register_module()
class MapAggregation(nn.Module):
    """Aggregate a ``C x H x W`` map into a vector (the AGG ablation, Table 4).

    * ``'dwconv'`` (paper): one depthwise convolution, kernel = map size,
      groups = channels -> ``C`` values (``C (H W + 1)`` parameters).
    * ``'gap'``: global average pooling, no parameters.
    * ``'conv'``: one full convolution, kernel = map size
      (``C_out C H W + C_out`` parameters).

    Args:
        channels (int): ``C``.
        map_size (int): ``H = W``.
        mode (str): One of ``'dwconv'``, ``'gap'``, ``'conv'``.
            Defaults to ``'dwconv'``.
        out_channels (int, optional): Output size; only ``'conv'`` may change
            it. Defaults to ``channels``.

    Note:
        N: maps (e.g. B*V).
    """

    def __init__(self,
                 channels: int,
                 map_size: int,
                 mode: str = 'dwconv',
                 out_channels: int = None) -> None:
        super().__init__()
        out_channels = channels if out_channels is None else out_channels
        if mode not in AGGREGATIONS:
            raise ValueError(f'MapAggregation: mode must be one of '
                             f'{AGGREGATIONS}, found {mode!r}')
        if mode != 'conv' and out_channels != channels:
            raise ValueError(
                f'MapAggregation: mode {mode!r} keeps the channel '
                f'count ({channels}); found out_channels='
                f'{out_channels}. Use mode="conv" to change it.')
        self.mode = mode
        self.channels = channels
        self.map_size = map_size
        self.out_channels = out_channels
        if mode == 'dwconv':
            self.layer = nn.Conv2d(
                channels, channels, map_size, groups=channels)
        elif mode == 'conv':
            self.layer = nn.Conv2d(channels, out_channels, map_size)
        else:
            self.layer = nn.AdaptiveAvgPool2d(1)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """Aggregate.

        Args:
            fmap (Tensor[N, C, H, W]): Rendered or projected map.

        Returns:
            Tensor[N, C_out]
        """
        expected = (self.channels, self.map_size, self.map_size)
        if fmap.dim() != 4 or tuple(fmap.shape[1:]) != expected:
            raise ValueError(
                f'MapAggregation expects Tensor[N, {expected[0]}, '
                f'{expected[1]}, {expected[2]}], found '
                f'{tuple(fmap.shape)}')
        if self.mode == 'gap':
            return self.layer(fmap).flatten(1)
        # A convolution whose kernel covers the whole map (no padding) has a
        # 1 x 1 output: a weighted sum over the map. Computed as such -- the
        # same parameters and state dict as the nn.Conv2d, equal to
        # F.conv2d up to float rounding (a test checks it) -- because
        # oneDNN's grouped-convolution backward on the CPU is slow for this
        # shape: 'dwconv' at N = 10, C = 2048, 4 x 4, forward and backward,
        # 4.0 ms as a convolution against 0.44 ms as multiply and sum
        # (float32; 5.2 against 0.52 ms under bf16 autocast; Intel Xeon
        # with AMX, 2 threads).
        weight = self.layer.weight.flatten(1)  # (C_out, C/groups * H * W)
        if self.mode == 'dwconv':
            return (fmap.flatten(2) * weight).sum(-1) + self.layer.bias
        return torch.nn.functional.linear(
            fmap.flatten(1), weight, self.layer.bias)
