"""Volume rendering of a feature field for an azimuth ``phi`` (ImpHMR eq. 4).

Camera, sampling and integration follow GIRAFFE's generator (Niemeyer &
Geiger, CVPR 2021, ``im2scene/giraffe/models/generator.py``): camera radius
2.732, field of view 49.13 deg, rays through pixel centres of an image plane at
depth 1, depths in [0.5, 6.0], stratified jitter and ``sigma += N(0, 1)`` only
while training, last interval 1e10. The camera pose of view ``phi`` comes from
:func:`mmhuman_imphmr.utils.geometry.camera_pose_for_view` (DESIGN §3).
"""
import math
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.geometry import camera_pose_for_view

FieldFn = Callable[[torch.Tensor, torch.Tensor],
                   Tuple[torch.Tensor, torch.Tensor]]


@MODELS.register_module()
class VolumeRenderer(nn.Module):
    """Render a ``C x H x W`` feature map of a field seen from azimuth ``phi``.

    Camera of view ``phi`` (elevation 0): centre and axes from
    ``camera_pose_for_view(phi, camera_radius)``; its axes are x right,
    y down, z forward. The ray of pixel ``(i, j)`` has camera-frame direction
    ``(u_j tan(fov/2), v_i tan(fov/2), 1)`` with ``u_j = (2j + 1)/W - 1``,
    ``v_i = (2i + 1)/H - 1`` (pixel centres), rotated into the field frame by
    the camera axes. Row ``i`` of the map is image row ``i`` (y down), column
    ``j`` is image column ``j`` (x right).

    Samples sit at ``x_n = o + t_n d``; because ``d`` has unit z, ``t_n`` is
    the sample's depth along the camera axis. The interval of eq. 4 is the
    Euclidean distance between neighbouring samples,
    ``delta_n = (t_{n+1} - t_n) |d|`` (the paper's
    ``||x_{n+1} - x_n||``; GIRAFFE multiplies by ``|d|`` too), and
    ``delta_N = last_delta |d|``. ``alpha_n = 1 - exp(-relu(sigma_n)
    delta_n)``, ``tau_n = prod_{k<n} (1 - alpha_k)``, ``f = sum tau_n
    alpha_n f_n``.

    Args:
        map_size (int): ``H = W`` of the rendered map. Defaults to 4 (paper).
        num_samples (int): ``N_s``, samples per ray. Defaults to 32 (paper).
        near (float): First sample depth. Defaults to 0.5 (GIRAFFE).
        far (float): Last sample depth. Defaults to 6.0 (GIRAFFE).
        camera_radius (float): Distance of the camera to the field origin.
            Defaults to 2.732 (GIRAFFE).
        fov (float): Field of view in degrees. Defaults to 49.13 (GIRAFFE).
        last_delta (float): Interval after the last sample. Defaults to 1e10.
        density_noise_std (float): Std of the noise added to ``sigma`` in
            training mode. Defaults to 1.0 (GIRAFFE, after NeRF).
        stratified (bool): Jitter sample depths inside their intervals in
            training mode. Defaults to True.
        bound (float, optional): If given, ``sigma`` is zeroed outside the
            cube ``[-bound, bound]^3`` of the field frame (GIRAFFE masks its
            object box with 1.1). ImpHMR does not say; off by default.

    Note:
        N: rendered views (ray batches, e.g. B*V), S: ``num_samples``,
        R: rays ``H*W``, P: points ``R*S``, C: feature channels.
    """

    def __init__(self,
                 map_size: int = 4,
                 num_samples: int = 32,
                 near: float = 0.5,
                 far: float = 6.0,
                 camera_radius: float = 2.732,
                 fov: float = 49.13,
                 last_delta: float = 1e10,
                 density_noise_std: float = 1.0,
                 stratified: bool = True,
                 bound: Optional[float] = None) -> None:
        super().__init__()
        if map_size < 1 or num_samples < 2 or not 0 < near < far:
            raise ValueError(
                'VolumeRenderer needs map_size >= 1, num_samples >= 2 and '
                f'0 < near < far; found map_size={map_size}, '
                f'num_samples={num_samples}, near={near}, far={far}')
        self.map_size = map_size
        self.num_samples = num_samples
        self.near, self.far = near, far
        self.camera_radius = camera_radius
        self.fov = fov
        self.last_delta = last_delta
        self.density_noise_std = density_noise_std
        self.stratified = stratified
        self.bound = bound
        half = math.tan(math.radians(fov) / 2)
        centres = (2 * torch.arange(map_size, dtype=torch.float32) + 1) / map_size - 1
        v, u = torch.meshgrid(centres, centres, indexing='ij')  # row = y, col = x
        dirs = torch.stack([u * half, v * half, torch.ones_like(u)], dim=-1)
        self.register_buffer('cam_dirs', dirs.reshape(-1, 3), persistent=False)  # (R, 3)

    def ray_bundle(self, phi: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Ray origins and (non-unit) directions in the field frame.

        Args:
            phi (Tensor[N]): Azimuths in radians.

        Returns:
            tuple: ``origins Tensor[N, 3]`` and ``dirs Tensor[N, R, 3]``.
        """
        origins, axes = camera_pose_for_view(phi, self.camera_radius)
        dirs = torch.einsum('nij,rj->nri', axes, self.cam_dirs.to(axes.dtype))
        return origins, dirs

    def sample_depths(self, num_rays: int, batch: int, device: torch.device,
                      dtype: torch.dtype) -> torch.Tensor:
        """Sample depths ``t``: evenly spaced, jittered in training mode.

        Returns:
            Tensor[N, R, S]
        """
        t = torch.linspace(self.near, self.far, self.num_samples,
                           device=device, dtype=dtype)
        t = t.expand(batch, num_rays, -1)
        if self.training and self.stratified:
            # uniform inside [mid_{n-1}, mid_n] (first/last clipped to near/far)
            mid = 0.5 * (t[..., 1:] + t[..., :-1])
            low = torch.cat([t[..., :1], mid], dim=-1)
            high = torch.cat([mid, t[..., -1:]], dim=-1)
            t = low + (high - low) * torch.rand_like(low)
        return t

    def composite(self, sigma: torch.Tensor, feat: torch.Tensor,
                  t: torch.Tensor, ray_length: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4 along each ray.

        Args:
            sigma (Tensor[N, R, S]): Densities (noise already added; ReLU
                applied here).
            feat (Tensor[N, R, S, C]): Features.
            t (Tensor[N, R, S]): Sample depths.
            ray_length (Tensor[N, R]): ``|d|``.

        Returns:
            tuple: ``feature Tensor[N, R, C]`` and ``weights Tensor[N, R, S]``.
        """
        delta = t[..., 1:] - t[..., :-1]
        delta = torch.cat([delta, torch.full_like(t[..., :1], self.last_delta)], -1)
        delta = delta * ray_length.unsqueeze(-1)  # Euclidean distances
        alpha = 1.0 - torch.exp(-F.relu(sigma) * delta)
        # exclusive cumulative product; +1e-10 keeps its gradient finite (GIRAFFE)
        trans = torch.cumprod(torch.cat(
            [torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1] + 1e-10], -1), -1)
        weights = trans * alpha
        return torch.einsum('nrs,nrsc->nrc', weights, feat), weights

    def forward(self, field: FieldFn, phi: torch.Tensor,
                return_extras: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict]]:
        """Render.

        Args:
            field (callable): ``field(points Tensor[N, P, 3], dirs
                Tensor[N, P, 3]) -> (sigma Tensor[N, P], feat Tensor[N, P, C])``
                with points in the field frame; per-batch conditioning (e.g. a
                latent repeated per view) is the caller's business.
            phi (Tensor[N]): Azimuth of each ray batch, radians.
            return_extras (bool): Also return a dict with ``weights
                Tensor[N, H, W, S]``, ``depth Tensor[N, H, W]`` (expected
                sample depth) and ``opacity Tensor[N, H, W]`` (sum of weights).

        Returns:
            Tensor[N, C, H, W] (and the extras dict if asked).
        """
        if phi.dim() != 1:
            raise ValueError('VolumeRenderer expects phi as Tensor[N], found '
                             f'shape {tuple(phi.shape)}')
        origins, dirs = self.ray_bundle(phi)  # (N, 3), (N, R, 3)
        n, r = dirs.shape[:2]
        s = self.num_samples
        t = self.sample_depths(r, n, dirs.device, dirs.dtype)  # (N, R, S)
        points = origins[:, None, None] + t.unsqueeze(-1) * dirs.unsqueeze(2)  # (N, R, S, 3)
        ray_dirs = dirs.unsqueeze(2).expand(-1, -1, s, -1)
        sigma, feat = field(points.reshape(n, r * s, 3),
                            ray_dirs.reshape(n, r * s, 3))
        if sigma.shape != (n, r * s) or feat.dim() != 3 or feat.shape[:2] != (n, r * s):
            raise ValueError(
                f'VolumeRenderer: field must return sigma Tensor[{n}, {r * s}] '
                f'and feat Tensor[{n}, {r * s}, C], found '
                f'{tuple(sigma.shape)} and {tuple(feat.shape)}')
        sigma = sigma.reshape(n, r, s)
        feat = feat.reshape(n, r, s, -1)  # (N, R, S, C)
        if self.training and self.density_noise_std > 0:
            sigma = sigma + self.density_noise_std * torch.randn_like(sigma)
        if self.bound is not None:
            inside = (points.abs() <= self.bound).all(dim=-1)
            sigma = sigma * inside.to(sigma.dtype)
        rendered, weights = self.composite(sigma, feat, t, dirs.norm(dim=-1))
        fmap = rearrange(rendered, 'n (h w) c -> n c h w',
                         h=self.map_size)  # (N, C, H, W)
        if not return_extras:
            return fmap
        hw = dict(h=self.map_size)
        extras = dict(
            weights=rearrange(weights, 'n (h w) s -> n h w s', **hw),
            depth=rearrange((weights * t).sum(-1), 'n (h w) -> n h w', **hw),
            opacity=rearrange(weights.sum(-1), 'n (h w) -> n h w', **hw))
        return fmap, extras
