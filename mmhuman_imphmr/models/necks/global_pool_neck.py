"""Plain HMR pooling: foreground attention (optional) + GAP, nothing else."""
from typing import Optional, Tuple

import torch

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.typing import OptConfigType
from .base_view_neck import BaseViewNeck


@MODELS.register_module()
class GlobalPoolNeck(BaseViewNeck):
    """``z = GAP(A(feats))`` (or ``GAP(feats)`` without attention), HMR-style.

    Not view aware and renders no map: the latent does not depend on ``phi``
    (the base class repeats it over the views). With ``use_attention=False``
    this is SPIN's HMR between its backbone and regressor
    (``configs/hmr_r50_mix.py``), so a converted SPIN checkpoint reproduces
    SPIN's network exactly. The paper's Table 4 baseline, parameter-matched
    to ImpHMR, is :class:`LatentMLPNeck`.

    Args:
        in_channels (int): Channels ``C`` of the backbone map. Defaults to
            2048.
        use_attention (bool): Foreground attention before pooling. Defaults
            to True (ImpHMR's front end); HMR / SPIN have none.
        attention_kernel (int): Kernel of the attention. Defaults to 7.
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: batch, V: views, C: channels, h x w: backbone map.
    """

    view_aware = False
    renders_map = False

    def __init__(self,
                 in_channels: int = 2048,
                 use_attention: bool = True,
                 attention_kernel: int = 7,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(
            in_channels, use_attention, attention_kernel, init_cfg=init_cfg)
        self.out_channels = in_channels

    def forward_views(self, z_fg: torch.Tensor, phi: torch.Tensor,
                      num_views: int
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The pooled code itself, one row per sample: ``Tensor[B, C]``."""
        return z_fg, None
