"""ImpHMR's Feature Fields Module (sec. 3.3) as a neck."""
from typing import Optional, Sequence, Tuple, Union

import torch
from einops import repeat

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import (GIRAFFE_CAMERA_RADIUS, GIRAFFE_FAR,
                                            GIRAFFE_FOV, GIRAFFE_NEAR)
from mmhuman_imphmr.utils.typing import OptConfigType
from ..utils import FeatureField, MapAggregation, VolumeRenderer
from ..utils.volume_renderer import (BOX_BOUND, DENSITY_ACTIVATION,
                                     DENSITY_BIAS, DENSITY_NOISE_STD)
from .base_view_neck import BaseViewNeck


@MODELS.register_module()
class FeatureFieldNeck(BaseViewNeck):
    """Backbone map -> ``z_fg`` -> feature field -> map at ``phi`` ->
    ``z_phi``.

    ``z_fg = GAP(A(z))`` conditions the field ``h`` (a GIRAFFE object decoder,
    :class:`FeatureField`); :class:`VolumeRenderer` renders the map
    ``f_phi`` of every requested azimuth; ``AGG`` (:class:`MapAggregation`)
    turns it into ``z_phi``. The view convention is DESIGN §3: the map of view
    ``phi`` shows the field as the canonical camera would see it rotated by
    ``R_y(-phi)``. The output's ``opacity`` is the rendered opacity.

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
        dir_scale (float): Unit ray directions are scaled by this before
            their encoding. Defaults to 0.5 (GIRAFFE).
        map_size (int): Rendered ``H = W``. Defaults to 4 (paper; 1, 2, 6 in
            its Table 7).
        num_samples (int): Samples per ray. Defaults to 32 (paper).
        near (float): Defaults to ``GIRAFFE_NEAR``.
        far (float): Defaults to ``GIRAFFE_FAR``.
        camera_radius (float): Defaults to ``GIRAFFE_CAMERA_RADIUS``.
        fov (float): Degrees. Defaults to ``GIRAFFE_FOV``.
        density_activation (str): ``'softplus'`` or ``'relu'`` (GIRAFFE).
            Assumption (the paper is silent): defaults to ``'softplus'``
            (mip-NeRF), so that a fresh field is neither empty nor opaque in
            eval and the density always gets a gradient; see
            :class:`VolumeRenderer`.
        density_bias (float): Shift of the raw density before the
            activation. Assumption: defaults to -1 (mip-NeRF; GIRAFFE: 0).
        density_noise_std (float): Training noise on the raw density.
            Assumption: defaults to 0 (GIRAFFE: 1, which swamps the raw
            density of a fresh field and makes train and eval render two
            different models).
        bound (float, optional): Density is zero outside the box
            ``[-bound, bound]^3`` (no ghosts of the periodic encoding).
            Defaults to 1.1 (GIRAFFE's padded object box); ``None`` is no box.
        use_attention (bool): Foreground attention. Defaults to True (paper).
        aggregation (str): ``'dwconv'`` (paper), ``'gap'`` or ``'conv'``.
        late_projection (bool): Render the field's 128-d hidden features and
            apply its last linear layer ``feat_out`` (W, b) to the map:
            ``sum_n w_n (W h_n + b) = W (sum_n w_n h_n) + (sum_n w_n) b``, the
            same result (up to float rounding) with ``hidden_dim/C`` of the
            memory and compute of the feature read-out. Defaults to True:
            the maps equal the literal per-sample read-out of the paper (a
            test checks it), at a fraction of the cost of a training step.
        skip_empty (bool): Evaluate the field only at the ray samples inside
            the box (about 31% of them at the default camera) and leave the
            others empty, which the box mask makes them anyway: the same
            maps and gradients (a test checks it) for about a third of the
            field's cost. Defaults to True; ignored with ``bound=None``.
            See :class:`VolumeRenderer`.
        init_cfg (dict, optional): MMEngine initialisation config.

    Checkpoints trained before the density read-out changed (before the
    label-type routing; same parameter names, so they load silently) were
    trained with ``density_activation='relu', density_bias=0.,
    density_noise_std=1., bound=None, dir_scale=1.``: set these in the neck
    config to evaluate them as they were trained.

    Note:
        B: batch, V: views, C: channels, h x w: backbone map, H x W: rendered
        map.
    """

    view_aware = True
    renders_map = True

    def __init__(self,
                 in_channels: int = 2048,
                 out_channels: Optional[int] = None,
                 hidden_dim: int = 128,
                 num_layers: int = 8,
                 skip_layer: Union[int, Sequence[int]] = 4,
                 pe_octaves_points: int = 10,
                 pe_octaves_dirs: int = 4,
                 point_scale: float = 0.5,
                 dir_scale: float = 0.5,
                 map_size: int = 4,
                 num_samples: int = 32,
                 near: float = GIRAFFE_NEAR,
                 far: float = GIRAFFE_FAR,
                 camera_radius: float = GIRAFFE_CAMERA_RADIUS,
                 fov: float = GIRAFFE_FOV,
                 density_activation: str = DENSITY_ACTIVATION,
                 density_bias: float = DENSITY_BIAS,
                 density_noise_std: float = DENSITY_NOISE_STD,
                 bound: Optional[float] = BOX_BOUND,
                 use_attention: bool = True,
                 aggregation: str = 'dwconv',
                 late_projection: bool = True,
                 skip_empty: bool = True,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, use_attention, init_cfg=init_cfg)
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
            point_scale=point_scale,
            dir_scale=dir_scale)
        self.renderer = VolumeRenderer(
            map_size=map_size,
            num_samples=num_samples,
            near=near,
            far=far,
            camera_radius=camera_radius,
            fov=fov,
            density_activation=density_activation,
            density_bias=density_bias,
            density_noise_std=density_noise_std,
            bound=bound,
            skip_empty=skip_empty and bound is not None)
        self.aggregation = MapAggregation(out_channels, map_size, aggregation)

    def forward_views(self, z_fg: torch.Tensor, phi: torch.Tensor,
                      num_views: int
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Render the field of each sample at its azimuths.

        Args:
            z_fg (Tensor[B, C_in]): Conditioning code.
            phi (Tensor[B*V]): Azimuths (radians), row ``b*V + v``.
            num_views (int): ``V``.

        Returns:
            tuple: ``feature_map Tensor[B*V, C_out, H, W]`` and ``opacity
            Tensor[B*V, H, W]``.
        """
        latent = repeat(z_fg, 'b c -> (b v) c', v=num_views)  # (B*V, C_in)

        def field(points: torch.Tensor,
                  dirs: torch.Tensor,
                  rows: Optional[torch.Tensor] = None):
            return self.field(
                points,
                dirs,
                latent,
                return_hidden=self.late_projection,
                rows=rows)

        hidden, extras = self.renderer(field, phi, return_extras=True)
        opacity = extras['opacity']  # (B*V, H, W)
        if not self.late_projection:
            return hidden, opacity  # already Tensor[B*V, C_out, H, W]
        out = self.field.feat_out
        fmap = (
            torch.einsum('ch,nhyx->ncyx', out.weight, hidden) +
            torch.einsum('c,nyx->ncyx', out.bias, opacity))
        return fmap, opacity
