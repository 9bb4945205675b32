"""Table 4 "Baseline" of ImpHMR: the field's MLP without field or rendering."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.typing import OptConfigType
from .base_view_neck import BaseViewNeck


@MODELS.register_module()
class LatentMLPNeck(BaseViewNeck):
    """Foreground attention -> GAP -> ``z_fg`` -> latent-only MLP -> ``z``.

    The paper's baseline (sec. 4.2, Table 4) "has the same model architecture
    and the number of parameters as ImpHMR (except AGG) but does not perform
    feature fields generation and volume rendering". The paper gives no more
    detail; the structure here is an assumption: :class:`FeatureField`'s MLP
    ``h`` with its inputs ``gamma(x)`` and ``gamma(r)`` removed, evaluated
    once per image on ``z_fg`` alone (no points, no rays, no density, no
    rendering, no AGG)::

        h = relu(W_in z)                                  # fc_in
        h = relu(W_k h) for the num_layers - 1 blocks,
            + W'_z z after the blocks in skip_layer      # skip_latent
        f = relu(W_f h + W_zf z)                          # fc_feat(+_latent)
        z_out = W_o f + b_o                               # fc_out

    How the size is matched: with ImpHMR's widths (``hidden_dim=128``,
    ``num_layers=8``, ``skip_layer=4``, the field's defaults) the layers are
    exactly the field's latent, trunk and feature layers, so the count is
    FeatureFieldNeck's minus the parts that only exist for the field and its
    rendering: at 2048 channels 1,183,204 vs 1,236,965 parameters (-34,816
    AGG, -18,816 positional-encoding input layers, -129 density read-out);
    the whole model (ResNet-50 + neck + SPIN regressor) has 28,160,705 vs
    ImpHMR's 28,214,466 without its training-only silhouette branch
    (-0.19 %; a test checks < 2 %). Not view aware (the latent does not
    depend on ``phi``) and renders no map, so only ``L_reg`` can train it and
    no silhouette head can be attached.

    Args:
        in_channels (int): Channels of the backbone map = size of ``z_fg``.
            Defaults to 2048.
        out_channels (int, optional): Size of the output latent. Defaults to
            ``in_channels``.
        hidden_dim (int): MLP width. Defaults to 128 (ImpHMR's field).
        num_layers (int): Trunk layers, the input layer included. Defaults to
            8 (ImpHMR's field).
        skip_layer (int | Sequence[int]): Block(s) after which ``W'_z z`` is
            added again. Defaults to 4 (ImpHMR's field).
        use_attention (bool): Foreground attention. Defaults to True (ImpHMR's
            front end).
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: batch, V: views, C: channels, h x w: backbone map.
    """

    view_aware = False
    renders_map = False

    def __init__(self,
                 in_channels: int = 2048,
                 out_channels: Optional[int] = None,
                 hidden_dim: int = 128,
                 num_layers: int = 8,
                 skip_layer: Union[int, Sequence[int]] = 4,
                 use_attention: bool = True,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, use_attention, init_cfg=init_cfg)
        out_channels = in_channels if out_channels is None else out_channels
        skips = ((skip_layer, )
                 if isinstance(skip_layer, int) else tuple(skip_layer))
        if num_layers < 2 or not all(1 <= k <= num_layers - 2 for k in skips):
            raise ValueError(
                f'LatentMLPNeck: needs num_layers >= 2 and skip_layer entries '
                f'in [1, num_layers - 2]; found num_layers={num_layers}, '
                f'skip_layer={skip_layer}')
        self.out_channels = out_channels
        self.skip_layers = tuple(int(k) for k in skips)
        self.fc_in = nn.Linear(in_channels, hidden_dim)
        self.blocks = nn.ModuleList(
            [nn.Linear(hidden_dim, hidden_dim) for _ in range(num_layers - 1)])
        self.skip_latent = nn.ModuleList(
            [nn.Linear(in_channels, hidden_dim) for _ in self.skip_layers])
        self.fc_feat = nn.Linear(hidden_dim, hidden_dim)
        self.fc_feat_latent = nn.Linear(in_channels, hidden_dim)
        self.fc_out = nn.Linear(hidden_dim, out_channels)

    def forward_views(self, z_fg: torch.Tensor, phi: torch.Tensor,
                      num_views: int
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The MLP on ``z_fg``, one row per sample (``phi`` is not used).

        Args:
            z_fg (Tensor[B, C_in]): Pooled foreground code.
            phi (Tensor[B*V]): Unused.
            num_views (int): Unused.

        Returns:
            tuple: ``latent Tensor[B, C_out]`` and ``None``.
        """
        net = F.relu(self.fc_in(z_fg))  # (B, hidden)
        skip_idx = 0
        for idx, block in enumerate(self.blocks):
            net = F.relu(block(net))
            if idx + 1 in self.skip_layers:
                net = net + self.skip_latent[skip_idx](z_fg)
                skip_idx += 1
        feat = F.relu(self.fc_feat(net) + self.fc_feat_latent(z_fg))
        return self.fc_out(feat), None  # (B, C_out)
