"""Baseline-PTN of ImpHMR (sec. 4 "voxel baseline", sec. 6.1).

The feature field is replaced by an explicit ``4 x 4 x 4 x C`` feature volume
decoded from ``z_fg`` (volume generator of Perspective Transformer Nets, Yan
et al., NeurIPS 2016), resampled for view ``phi`` by a (perspective)
transformer grid and projected by a max over depth, since a feature volume
has no density.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import repeat

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import GIRAFFE_CAMERA_RADIUS, GIRAFFE_FOV
from mmhuman_imphmr.utils.geometry import rotation_y
from mmhuman_imphmr.utils.typing import OptConfigType
from ..utils import MapAggregation
from .base_view_neck import BaseViewNeck

PROJECTIONS = ('perspective', 'orthographic')


@MODELS.register_module()
class PTNNeck(BaseViewNeck):
    """``z_fg`` -> feature volume -> view ``phi`` -> max over depth -> AGG.

    Volume generator (an assumption; the paper only names PTN's decoder):
    ``Linear(C_in, c0 (s/2)^3)`` -> ReLU ->
    ``ConvTranspose3d(c0, c1, 4, 2, 1)`` -> ReLU -> ``Conv3d(c1, C, 1)``,
    giving ``Tensor[B, C, s, s, s]`` with axes ``(z, y, x)`` of the field
    frame (x right, y down, z away from the canonical camera), covering the
    cube ``[-extent, extent]^3``.

    Transformer: for view ``phi`` the output cell at view-frame offset ``q``
    (from the look-at point) samples the canonical volume at ``R_y(phi) q``:
    the camera of view ``phi`` has axes ``R_y(phi)``, so content at ``p``
    appears at ``R_y(-phi) p`` (DESIGN §3, ``geometry.view_rotation``).
    ``'perspective'``: ``q = (u tan(fov/2) t, v tan(fov/2) t, t - r)`` for
    pixel centres ``(u, v)`` and depths ``t = r + z``, the camera of
    :class:`VolumeRenderer`; ``'orthographic'``: ``q = (u, v, z) extent``.
    Depth offsets ``z`` are the voxel-centre lattice extended to cover the
    rotated cube (``|z| <= sqrt(2) extent``), so right angles resample voxel
    centres exactly. Cells outside the volume are ignored by the max (a ray
    that misses the volume gives 0).

    Args:
        in_channels (int): Channels of the backbone map. Defaults to 2048.
        out_channels (int, optional): Volume channels ``C`` (2048 in the
            paper). Defaults to ``in_channels``.
        volume_size (int): ``s``, even. Also the projected map size.
            Defaults to 4 (paper).
        decoder_channels (Sequence[int]): ``(c0, c1)``. Defaults to
            ``(256, 128)`` (an assumption, keeps the decoder near 6.6 M
            parameters instead of 268 M for a direct linear layer).
        projection (str): ``'perspective'`` (default, PTN) or
            ``'orthographic'``.
        camera_radius (float): Defaults to ``GIRAFFE_CAMERA_RADIUS`` (same
            camera as the field).
        fov (float): Degrees. Defaults to ``GIRAFFE_FOV``.
        extent (float): Half side of the volume in field units. Defaults to 1
            (GIRAFFE's object box).
        use_attention (bool): Foreground attention. Defaults to True.
        aggregation (str): ``'dwconv'``, ``'gap'`` or ``'conv'``.
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: batch, V: views, C: channels, s: volume side, D: depth samples.
    """

    view_aware = True
    renders_map = True  # the projected map; no opacity (no density)

    def __init__(self,
                 in_channels: int = 2048,
                 out_channels: Optional[int] = None,
                 volume_size: int = 4,
                 decoder_channels: Sequence[int] = (256, 128),
                 projection: str = 'perspective',
                 camera_radius: float = GIRAFFE_CAMERA_RADIUS,
                 fov: float = GIRAFFE_FOV,
                 extent: float = 1.0,
                 use_attention: bool = True,
                 aggregation: str = 'dwconv',
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(in_channels, use_attention, init_cfg=init_cfg)
        if volume_size < 2 or volume_size % 2:
            raise ValueError(f'PTNNeck: volume_size must be even and >= 2, '
                             f'found {volume_size}')
        if len(decoder_channels) != 2:
            raise ValueError('PTNNeck: decoder_channels must be (c0, c1), '
                             f'found {decoder_channels}')
        if projection not in PROJECTIONS:
            raise ValueError(f'PTNNeck: projection must be one of '
                             f'{PROJECTIONS}, found {projection!r}')
        out_channels = in_channels if out_channels is None else out_channels
        self.out_channels = out_channels
        self.volume_size = volume_size
        self.projection = projection
        self.camera_radius = camera_radius
        self.tan_half_fov = math.tan(math.radians(fov) / 2)
        self.extent = extent
        c0, c1 = decoder_channels
        self.seed_size = volume_size // 2
        self.fc = nn.Linear(in_channels, c0 * self.seed_size**3)
        self.deconv = nn.ConvTranspose3d(c0, c1, 4, stride=2, padding=1)
        self.out_conv = nn.Conv3d(c1, out_channels, 1)
        self.aggregation = MapAggregation(out_channels, volume_size,
                                          aggregation)

        s = volume_size
        centres = (2 * torch.arange(s, dtype=torch.float32) + 1) / s - 1
        extra = math.ceil((math.sqrt(2) - 1) * s / 2)
        depth = (2 * torch.arange(-extra, s + extra, dtype=torch.float32) +
                 1) / s - 1
        self.register_buffer('pixel_centres', centres, persistent=False)
        self.register_buffer('depth_offsets', depth, persistent=False)

    def generate_volume(self, z_fg: torch.Tensor) -> torch.Tensor:
        """``Tensor[B, C_in]`` -> canonical volume ``Tensor[B, C, s, s, s]``
        (axes z, y, x)."""
        seed = self.fc(z_fg).view(z_fg.shape[0], -1, self.seed_size,
                                  self.seed_size, self.seed_size)
        return self.out_conv(F.relu(self.deconv(F.relu(seed))))

    def sampling_grid(self, phi: torch.Tensor) -> torch.Tensor:
        """Normalised sampling positions of view ``phi`` in the canonical
        volume.

        Args:
            phi (Tensor[N]): Azimuths (radians).

        Returns:
            Tensor[N, D, s, s, 3]: ``(x, y, z)`` in ``[-1, 1]`` per cell
            (``grid_sample`` order), cells indexed ``(depth, row, column)``.
        """
        z, v, u = torch.meshgrid(
            self.depth_offsets,
            self.pixel_centres,
            self.pixel_centres,
            indexing='ij')
        if self.projection == 'perspective':
            t = self.camera_radius + z * self.extent
            q = torch.stack([
                u * self.tan_half_fov * t, v * self.tan_half_fov * t,
                t - self.camera_radius
            ],
                            dim=-1)
        else:
            q = torch.stack([u, v, z], dim=-1) * self.extent  # (D, s, s, 3)
        rot = rotation_y(phi.to(
            q.dtype))  # (N, 3, 3) = camera axes of view phi
        world = torch.einsum('nij,dhwj->ndhwi', rot, q.to(phi.device))
        return world / self.extent

    def project(self, volume: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Resample a canonical volume for view ``phi`` and max over depth.

        Args:
            volume (Tensor[N, C, s, s, s]): Axes (z, y, x).
            phi (Tensor[N]): Azimuths (radians).

        Returns:
            Tensor[N, C, s, s]
        """
        grid = self.sampling_grid(phi).to(volume.dtype)  # (N, D, s, s, 3)
        # border padding: cells inside the cube but beyond the outer voxel
        # centres take the border voxel; cells outside the cube are masked.
        cells = F.grid_sample(
            volume,
            grid,
            mode='bilinear',
            padding_mode='border',
            align_corners=False)
        inside = (grid.abs()
                  <= 1 + 1e-6).all(dim=-1).unsqueeze(1)  # (N, 1, D, s, s)
        cells = cells.masked_fill(~inside, float('-inf'))
        fmap = cells.amax(dim=2)  # (N, C, s, s)
        return torch.where(inside.any(dim=2), fmap, torch.zeros_like(fmap))

    def forward_views(self, z_fg: torch.Tensor, phi: torch.Tensor,
                      num_views: int
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Project the person's feature volume to the views ``phi``.

        Args:
            z_fg (Tensor[B, C_in]): Pooled foreground code.
            phi (Tensor[B*V]): Azimuths, row ``b*V + v``.
            num_views (int): ``V``.

        Returns:
            tuple: ``feature_map Tensor[B*V, C, s, s]`` and ``None`` (a
            feature volume has no density, hence no opacity).
        """
        volume = self.generate_volume(z_fg)  # (B, C, s, s, s), once per sample
        volume = repeat(volume, 'b c d h w -> (b v) c d h w', v=num_views)
        return self.project(volume, phi), None  # (B*V, C, s, s)
