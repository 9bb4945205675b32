"""The plain baseline neck (ImpHMR Table 4, "Baseline"): no field, no render."""
from typing import Dict, Optional

import torch
from einops import repeat

from mmhuman_imphmr.registry import MODELS
from .base_view_neck import BaseViewNeck


@MODELS.register_module()
class GlobalPoolNeck(BaseViewNeck):
    """Foreground attention (optional) + global average pooling, HMR-style.

    It is not view aware: the latent does not depend on ``phi``; when views
    are asked for it repeats the latent over them so that the estimator can
    treat every neck alike.

    The paper's baseline has "the same architecture and number of parameters
    except AGG"; this one has fewer parameters than :class:`FeatureFieldNeck`
    because it has no feature field and no renderer at all (DESIGN §6: the
    plain baseline has no field and no rendering). Counts at
    ``in_channels=2048`` (asserted in ``tests/test_models/test_necks``):
    GlobalPoolNeck 100 (the attention), FeatureFieldNeck 1,236,965,
    PTNNeck 6,592,740.

    Args:
        in_channels (int): Channels ``C`` of the backbone map. Defaults to
            2048.
        use_attention (bool): Foreground attention before pooling. Defaults
            to True; the HMR/SPIN baseline has none, Table 4's baseline is
            ImpHMR without the field module, so keep the attention there.
        attention_kernel (int): Kernel of the attention. Defaults to 7.

    Note:
        B: batch, V: views, C: channels, h x w: backbone map.
    """

    view_aware = False

    def __init__(self, in_channels: int = 2048, use_attention: bool = True,
                 attention_kernel: int = 7) -> None:
        super().__init__(in_channels, use_attention, attention_kernel)
        self.out_channels = in_channels

    def forward(self, feats: torch.Tensor,
                phi: Optional[torch.Tensor] = None
                ) -> Dict[str, Optional[torch.Tensor]]:
        """Pool.

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.
            phi (Tensor[B, V] | None): Only its shape is used (``V``).

        Returns:
            dict: ``latent Tensor[B*V, C]`` (row ``b*V + v``) and
            ``feature_map=None``.
        """
        z_fg = self.encode(feats)  # (B, C)
        _, num_views = self.check_phi(phi, feats.shape[0], z_fg)
        latent = repeat(z_fg, 'b c -> (b v) c', v=num_views)  # (B*V, C)
        return dict(latent=latent, feature_map=None)
