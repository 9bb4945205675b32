"""ImpHMR's Feature Fields Module (sec. 3.3) as a neck."""
from typing import Dict, Optional, Sequence

import torch
from einops import rearrange, repeat

from mmhuman_imphmr.registry import MODELS
from ..utils import FeatureField, MapAggregation, VolumeRenderer
from .base_view_neck import BaseViewNeck


@MODELS.register_module()
class FeatureFieldNeck(BaseViewNeck):
    """Backbone map -> ``z_fg`` -> feature field -> map at ``phi`` -> ``z_phi``.

    ``z_fg = GAP(A(z))`` conditions the field ``h`` (a GIRAFFE object decoder,
    :class:`FeatureField`); :class:`VolumeRenderer` renders the map
    ``f_phi`` of every requested azimuth; ``AGG`` (:class:`MapAggregation`)
    turns it into ``z_phi``. The view convention is DESIGN §3: the map of view
    ``phi`` shows the field as the canonical camera would see it rotated by
    ``R_y(-phi)``.

    Args:
        in_channels (int): Channels of the backbone map = size of ``z_fg``.
            Defaults to 2048.
        out_channels (int, optional): Feature size of the field, of the map
            and of ``z_phi``. Defaults to ``in_channels`` (2048, paper).
        hidden_dim (int): MLP width. Defaults to 128 (GIRAFFE).
        num_layers (int): MLP density layers. Defaults to 8 (GIRAFFE).
        skip_layer (int | Sequence[int]): Block(s) after which the latent and
            ``gamma(x)`` are added again. Defaults to 4 (GIRAFFE).
        pe_octaves_points (int): Defaults to 10 (paper).
        pe_octaves_dirs (int): Defaults to 4 (paper).
        point_scale (float): Points are scaled by this before the encoding.
            Defaults to 0.5 (GIRAFFE divides by 2; an assumption).
        map_size (int): Rendered ``H = W``. Defaults to 4 (paper; 1, 2, 6 in
            its Table 7).
        num_samples (int): Samples per ray. Defaults to 32 (paper).
        near (float): Defaults to 0.5 (GIRAFFE).
        far (float): Defaults to 6.0 (GIRAFFE).
        camera_radius (float): Defaults to 2.732 (GIRAFFE).
        fov (float): Degrees. Defaults to 49.13 (GIRAFFE).
        density_noise_std (float): Training noise on ``sigma``. Defaults to
            1.0 (GIRAFFE).
        use_attention (bool): Foreground attention. Defaults to True (paper).
        aggregation (str): ``'dwconv'`` (paper), ``'gap'`` or ``'conv'``.
        late_projection (bool): Render the field's 128-d hidden features and
            apply its last linear layer ``feat_out`` (W, b) to the map:
            ``sum_n w_n (W h_n + b) = W (sum_n w_n h_n) + (sum_n w_n) b``, the
            same result (up to float rounding) with ``hidden_dim/C`` of the
            memory and compute of the feature read-out. Defaults to True:
            the maps equal the literal per-sample read-out of the paper (a
            test checks it), at a fraction of the cost of a training step.

    Note:
        B: batch, V: views, C: channels, h x w: backbone map, H x W: rendered
        map.
    """

    view_aware = True

    def __init__(self,
                 in_channels: int = 2048,
                 out_channels: Optional[int] = None,
                 hidden_dim: int = 128,
                 num_layers: int = 8,
                 skip_layer=4,
                 pe_octaves_points: int = 10,
                 pe_octaves_dirs: int = 4,
                 point_scale: float = 0.5,
                 map_size: int = 4,
                 num_samples: int = 32,
                 near: float = 0.5,
                 far: float = 6.0,
                 camera_radius: float = 2.732,
                 fov: float = 49.13,
                 density_noise_std: float = 1.0,
                 use_attention: bool = True,
                 aggregation: str = 'dwconv',
                 late_projection: bool = True) -> None:
        super().__init__(in_channels, use_attention)
        self.late_projection = late_projection
        out_channels = in_channels if out_channels is None else out_channels
        skips: Sequence[int] = ((skip_layer, ) if isinstance(skip_layer, int)
                                else tuple(skip_layer))
        self.out_channels = out_channels
        self.field = FeatureField(
            latent_dim=in_channels,
            out_channels=out_channels,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            skip_layers=skips,
            pe_octaves_points=pe_octaves_points,
            pe_octaves_dirs=pe_octaves_dirs,
            point_scale=point_scale)
        self.renderer = VolumeRenderer(
            map_size=map_size,
            num_samples=num_samples,
            near=near,
            far=far,
            camera_radius=camera_radius,
            fov=fov,
            density_noise_std=density_noise_std)
        self.aggregation = MapAggregation(out_channels, map_size, aggregation)

    def forward(self, feats: torch.Tensor,
                phi: Optional[torch.Tensor] = None
                ) -> Dict[str, Optional[torch.Tensor]]:
        """Render the views ``phi`` of the person in ``feats``.

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.
            phi (Tensor[B, V] | Tensor[B] | None): Azimuths (radians);
                ``None`` is the canonical view ``phi = 0``, ``V = 1``.

        Returns:
            dict: ``latent Tensor[B*V, C_out]`` and ``feature_map
            Tensor[B*V, C_out, H, W]``, row ``b*V + v``.
        """
        z_fg = self.encode(feats)  # (B, C)
        phi, num_views = self.check_phi(phi, feats.shape[0], z_fg)
        latent = repeat(z_fg, 'b c -> (b v) c', v=num_views)  # (B*V, C)
        phi_flat = rearrange(phi, 'b v -> (b v)')  # (B*V,)

        def field(points: torch.Tensor, dirs: torch.Tensor):
            return self.field(points, dirs, latent,
                              return_hidden=self.late_projection)

        if self.late_projection:
            hidden, extras = self.renderer(field, phi_flat, return_extras=True)
            out = self.field.feat_out
            fmap = (torch.einsum('ch,nhyx->ncyx', out.weight, hidden) +
                    torch.einsum('c,nyx->ncyx', out.bias, extras['opacity']))
        else:
            fmap = self.renderer(field, phi_flat)  # (B*V, C_out, H, W)
        return dict(latent=self.aggregation(fmap), feature_map=fmap)
