"""Volume rendering of a feature field for an azimuth ``phi`` (ImpHMR eq. 4).

Camera, sampling and integration are learned from GIRAFFE's generator
(Niemeyer & Geiger, CVPR 2021, ``im2scene/giraffe/models/generator.py``,
``im2scene/camera.py``, ``im2scene/common.py``): camera radius, field of view
and depth range ``mmhuman_imphmr.utils.constants.GIRAFFE_*``, rays to an image
plane at camera depth 1, stratified depth jitter while training, last interval
1e10, density masked outside the object box. Where this renderer differs from
GIRAFFE is listed in :class:`VolumeRenderer`. The camera pose of view ``phi``
comes from :func:`mmhuman_imphmr.utils.geometry.camera_pose_for_view`
(DESIGN §3).
"""
import math
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import (GIRAFFE_CAMERA_RADIUS, GIRAFFE_FAR,
                                            GIRAFFE_FOV, GIRAFFE_NEAR)
from mmhuman_imphmr.utils.geometry import camera_pose_for_view
from mmhuman_imphmr.utils.precision import fp32_region

# field(points, dirs) -> (raw, feat); with skip_empty also field(points,
# dirs, rows=rows) (the flat layout, see VolumeRenderer.forward)
FieldFn = Callable[..., Tuple[torch.Tensor, torch.Tensor]]

DENSITY_ACTIVATIONS = ('softplus', 'relu')
# Defaults of the density read-out, shared with FeatureFieldNeck (one place).
# Assumptions -- the paper is silent; GIRAFFE uses relu(sigma + N(0, 1)) in
# training and relu(sigma) in eval. See VolumeRenderer for the reasons.
DENSITY_ACTIVATION = 'softplus'  # mip-NeRF (Barron et al., ICCV 2021)
DENSITY_BIAS = -1.0  # mip-NeRF's shift: softplus(raw - 1)
DENSITY_NOISE_STD = 0.0  # mip-NeRF and later NeRF work drop the noise
# GIRAFFE masks the density outside its object box [-1, 1]^3 padded by 0.1.
BOX_BOUND = 1.1
# skip_empty rounds the number of evaluated samples up to a multiple of this
# (padding with samples outside the box, which the mask zeroes): with the
# depth jitter the count inside changes every step, and oneDNN builds (and
# caches) its bf16 matmul kernels per shape. Measured: the paper neck's
# forward + backward at 8 views under bf16 autocast took 20-34 ms with the
# exact count, 16-17 ms rounded to 64, 24 ms dense (Intel Xeon with AMX,
# 2 threads).
SKIP_EMPTY_BUCKET = 64
# Eval-mode samples of at most this many ray batches are cached per phi (see
# VolumeRenderer._geometry), at most GEOMETRY_CACHE_SIZE entries.
GEOMETRY_CACHE_MAX_ROWS = 64
GEOMETRY_CACHE_SIZE = 4


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
    ``delta_n = (t_{n+1} - t_n) |d|`` (the paper's ``||x_{n+1} - x_n||``),
    and ``delta_N = last_delta |d|``. With the density
    ``sigma_n = act(raw_n + density_bias [+ noise])``, zeroed outside the box
    ``|x|_inf <= bound``: ``alpha_n = 1 - exp(-sigma_n delta_n)``,
    ``tau_n = prod_{k<n} (1 - alpha_k)``, ``f = sum tau_n alpha_n f_n``.

    What GIRAFFE does, and where this renderer differs:

    * Same: camera at ``camera_radius`` looking at the origin, image plane at
      camera depth 1 (``image_points_to_world``), ``t`` the camera depth,
      ``delta`` times the ray length, ``tau`` with ``+1e-10`` inside the
      cumulative product, last interval 1e10, stratified jitter only while
      training, the box mask ``|p| <= 1 + 0.1`` (inclusive) on the density.
    * Pixel grid (deviation): GIRAFFE's ``arange_pixels`` puts the ``W``
      samples of a row at ``2j/(W - 1) - 1``, a corner-aligned grid whose
      outer rays go through the image border (``u = +-1``; for ``W = 4``:
      ``-1, -1/3, 1/3, 1``) and which is undefined for ``W = 1`` (division
      by zero); it then negates y (its camera looks down ``-z`` with y up,
      OpenGL) and transposes the map (``permute(0, 1, 3, 2)``) so that rows
      are y. Here the rays go through pixel centres (``-0.75, -0.25, 0.25,
      0.75`` for ``W = 4``), which is defined for the paper's 1 x 1 map
      (Table 7), and the OpenCV camera (DESIGN §3) makes rows y directly.
    * Object box (deviation): GIRAFFE samples a box (scale, translation,
      rotation) per object and evaluates its decoder in box coordinates;
      here the field frame is the box frame with the identity box, so the
      person's box ``[-1.1, 1.1]^3`` nearly fills the canonical view (half
      width ``tan(fov/2) r = 1.25`` at the origin), as a person fills an HMR
      crop. Every ray of a 1, 2, 4 or 6 wide map crosses it for every ``phi``
      (a test checks it).
    * Density read-out (deviation, an assumption): GIRAFFE uses
      ``relu(raw + N(0, 1))`` while training and ``relu(raw)`` in eval. At
      initialisation ``raw`` is almost constant over space with a sign set
      by the seed, so in eval a fresh field is often empty (opacity 0 for
      every ray: the map, the latent and the prediction are constants; 5 of
      20 seeds of the quick-start neck) while the N(0, 1) noise makes the same
      field opaque in training (mean opacity 0.92 vs 0.00): train and eval
      render two different models, and the ReLU passes no gradient where
      ``raw < 0``. The default here is mip-NeRF's ``softplus(raw - 1)``,
      positive everywhere with gradient ``sigmoid(raw - 1) > 0``, no noise
      (mip-NeRF and later work drop NeRF's noise regulariser), so train and
      eval differ only by the depth jitter: a fresh field has ``sigma ~
      softplus(-1) = 0.31``, i.e. an opacity near ``1 - exp(-0.31 * 2.2) =
      0.5`` across the box (measured 0.39 - 0.52 in eval over seeds 0-19,
      mean |train - eval| 0.012 - 0.017). ``density_activation='relu',
      density_bias=0, density_noise_std=1`` is GIRAFFE's read-out.

    Args:
        map_size (int): ``H = W`` of the rendered map. Defaults to 4 (paper).
        num_samples (int): ``N_s``, samples per ray. Defaults to 32 (paper).
        near (float): First sample depth. Defaults to ``GIRAFFE_NEAR``.
        far (float): Last sample depth. Defaults to ``GIRAFFE_FAR``.
        camera_radius (float): Distance of the camera to the field origin.
            Defaults to ``GIRAFFE_CAMERA_RADIUS``.
        fov (float): Field of view in degrees. Defaults to ``GIRAFFE_FOV``.
        last_delta (float): Interval after the last sample. Defaults to 1e10.
        density_activation (str): ``'softplus'`` (default, mip-NeRF) or
            ``'relu'`` (GIRAFFE). An assumption, see above.
        density_bias (float): Added to the field's raw density before the
            activation. Defaults to -1 (mip-NeRF; use 0 with ``'relu'``).
        density_noise_std (float): Std of the Gaussian noise added to the raw
            density in training mode. Defaults to 0 (GIRAFFE: 1).
        stratified (bool): Jitter sample depths inside their intervals in
            training mode. Defaults to True (GIRAFFE).
        bound (float, optional): The density is zero outside the cube
            ``[-bound, bound]^3`` of the field frame, so the periodic
            positional encoding cannot repeat the person along a ray (no
            ghosts) and the last, 1e10-long interval (outside the box) adds
            nothing. Defaults to 1.1 (GIRAFFE's padded box). ``None`` turns
            the mask off.
        skip_empty (bool): Evaluate the field only at the samples inside the
            box (with jittered depths their count is rounded up to a
            multiple of 64 with samples outside, see ``SKIP_EMPTY_BUCKET``)
            and give the others raw density 0 and features 0. Exact:
            their density is masked to 0, so their weight is 0, their
            transmittance factor ``1 - 0 + 1e-10`` is 1 in float32 and
            they get no gradient. At the default camera about 31% of the
            samples lie inside the box, so the field costs about a third.
            The field must then accept the flat layout (see
            :meth:`forward`). Under ``torch.compile`` or CUDA-graph capture
            (data-dependent sizes) the dense path runs. Needs ``bound``.
            Defaults to False (a field callable need not know the flat
            layout); :class:`FeatureFieldNeck` turns it on.

    Note:
        N: rendered views (ray batches, e.g. B*V), S: ``num_samples``,
        R: rays ``H*W``, P: points ``R*S``, C: feature channels.
    """

    def __init__(self,
                 map_size: int = 4,
                 num_samples: int = 32,
                 near: float = GIRAFFE_NEAR,
                 far: float = GIRAFFE_FAR,
                 camera_radius: float = GIRAFFE_CAMERA_RADIUS,
                 fov: float = GIRAFFE_FOV,
                 last_delta: float = 1e10,
                 density_activation: str = DENSITY_ACTIVATION,
                 density_bias: float = DENSITY_BIAS,
                 density_noise_std: float = DENSITY_NOISE_STD,
                 stratified: bool = True,
                 bound: Optional[float] = BOX_BOUND,
                 skip_empty: bool = False) -> None:
        super().__init__()
        if map_size < 1 or num_samples < 2 or not 0 < near < far:
            raise ValueError(
                'VolumeRenderer needs map_size >= 1, num_samples >= 2 and '
                f'0 < near < far; found map_size={map_size}, '
                f'num_samples={num_samples}, near={near}, far={far}')
        if density_activation not in DENSITY_ACTIVATIONS:
            raise ValueError(f'VolumeRenderer: density_activation must be one '
                             f'of {DENSITY_ACTIVATIONS}, found '
                             f'{density_activation!r}')
        if bound is not None and bound <= 0:
            raise ValueError(f'VolumeRenderer: bound must be > 0 or None, '
                             f'found {bound}')
        if skip_empty and bound is None:
            raise ValueError('VolumeRenderer: skip_empty needs a box; found '
                             'bound=None')
        self.map_size = map_size
        self.num_samples = num_samples
        self.near, self.far = near, far
        self.camera_radius = camera_radius
        self.fov = fov
        self.last_delta = last_delta
        self.density_activation = density_activation
        self.density_bias = density_bias
        self.density_noise_std = density_noise_std
        self.stratified = stratified
        self.bound = bound
        self.skip_empty = skip_empty
        self._geometry_cache: Dict[tuple, Dict[str, torch.Tensor]] = {}
        half = math.tan(math.radians(fov) / 2)
        centres = (2 * torch.arange(map_size, dtype=torch.float32) +
                   1) / map_size - 1
        v, u = torch.meshgrid(
            centres, centres, indexing='ij')  # row = y, col = x
        dirs = torch.stack([u * half, v * half, torch.ones_like(u)], dim=-1)
        self.register_buffer(
            'cam_dirs', dirs.reshape(-1, 3), persistent=False)  # (R, 3)

    def ray_bundle(self,
                   phi: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
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
        t = torch.linspace(
            self.near, self.far, self.num_samples, device=device, dtype=dtype)
        t = t.expand(batch, num_rays, -1)
        if self.training and self.stratified:
            # uniform inside [mid_{n-1}, mid_n] (first/last clipped to
            # near/far)
            mid = 0.5 * (t[..., 1:] + t[..., :-1])
            low = torch.cat([t[..., :1], mid], dim=-1)
            high = torch.cat([mid, t[..., -1:]], dim=-1)
            t = low + (high - low) * torch.rand_like(low)
        return t

    def inside_box(self, points: torch.Tensor) -> torch.Tensor:
        """``Tensor[...]`` bool: the points ``Tensor[..., 3]`` inside the box
        ``|x|_inf <= bound`` (inclusive, GIRAFFE)."""
        return (points.abs() <= self.bound).all(dim=-1)

    @fp32_region
    def density(self,
                raw: torch.Tensor,
                points: torch.Tensor,
                inside: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Non-negative density from the field's raw output.

        Args:
            raw (Tensor[N, R, S]): Raw density of the field.
            points (Tensor[N, R, S, 3]): Sample points (field frame).
            inside (Tensor[N, R, S], optional): :meth:`inside_box` of
                ``points`` if the caller has it already.

        Returns:
            Tensor[N, R, S]: ``act(raw + bias [+ noise])``, zero outside the
            box.
        """
        raw = raw + self.density_bias
        if self.training and self.density_noise_std > 0:
            raw = raw + self.density_noise_std * torch.randn_like(raw)
        if self.density_activation == 'softplus':
            sigma = F.softplus(raw)
        else:
            sigma = F.relu(raw)
        if self.bound is not None:
            # after the activation: softplus(0) is not 0
            if inside is None:
                inside = self.inside_box(points)
            sigma = sigma * inside.to(sigma.dtype)
        return sigma

    @fp32_region
    def composite(self, sigma: torch.Tensor, feat: torch.Tensor,
                  t: torch.Tensor, ray_length: torch.Tensor
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4 along each ray.

        Args:
            sigma (Tensor[N, R, S]): Non-negative densities.
            feat (Tensor[N, R, S, C]): Features.
            t (Tensor[N, R, S]): Sample depths.
            ray_length (Tensor[N, R]): ``|d|``.

        Returns:
            tuple: ``feature Tensor[N, R, C]`` and ``weights Tensor[N, R, S]``.
        """
        delta = t[..., 1:] - t[..., :-1]
        delta = torch.cat(
            [delta, torch.full_like(t[..., :1], self.last_delta)], -1)
        delta = delta * ray_length.unsqueeze(-1)  # Euclidean distances
        alpha = 1.0 - torch.exp(-sigma * delta)
        # exclusive cumulative product; +1e-10 keeps its gradient finite
        # (GIRAFFE)
        trans = torch.cumprod(
            torch.cat([
                torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1] + 1e-10
            ], -1), -1)
        weights = trans * alpha
        return torch.einsum('nrs,nrsc->nrc', weights, feat), weights

    def _skips_empty(self, points: torch.Tensor) -> bool:
        """Whether this call takes the flat path (see ``skip_empty``): its
        sizes depend on the data, which ``torch.compile`` and CUDA graphs
        cannot follow."""
        if not self.skip_empty or torch.compiler.is_compiling():
            return False
        return not (points.is_cuda
                    and torch.cuda.is_current_stream_capturing())

    def _field_inside(self, field: FieldFn, geo: Dict[str, torch.Tensor]
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Evaluate ``field`` at the samples inside the box only (flat
        layout) and scatter the result into ``(raw, feat)`` of the batched
        layout, zeros elsewhere. With jittered depths the count is rounded
        up to a multiple of ``SKIP_EMPTY_BUCKET`` with samples outside.

        Args:
            field (callable): See :meth:`forward`.
            geo (dict): :meth:`_geometry` of the call; its flat ``index``
                and ``rows`` are computed here once and kept in it.

        Returns:
            tuple: ``raw Tensor[N, R*S]`` and ``feat Tensor[N, R*S, C]``.
        """
        inside = geo['inside']
        n, r, s = inside.shape
        if 'index' not in geo:
            flat = inside.reshape(-1)
            index = flat.nonzero().squeeze(1)  # the samples inside
            if self.training and self.stratified:
                bucket = SKIP_EMPTY_BUCKET
                padded = min(flat.numel(),
                             -(-index.numel() // bucket) * bucket)
                if padded > index.numel():  # pad with outside samples
                    outside = (~flat).nonzero().squeeze(1)
                    index = torch.cat(
                        [index, outside[:padded - index.numel()]])
            geo['index'] = index
            geo['rows'] = torch.div(index, r * s, rounding_mode='floor')
            geo['flat_points'] = geo['points'].reshape(-1, 3).index_select(
                0, index)
            geo['flat_dirs'] = geo['ray_dirs'].reshape(-1, 3).index_select(
                0, index)
        index = geo['index']
        raw_in, feat_in = field(
            geo['flat_points'], geo['flat_dirs'], rows=geo['rows'])
        m = index.numel()
        if raw_in.shape != (m, ) or feat_in.dim() != 2 or len(feat_in) != m:
            raise ValueError(f'VolumeRenderer(skip_empty=True): field must '
                             f'return sigma Tensor[{m}] and feat '
                             f'Tensor[{m}, C] for the {m} samples inside '
                             f'the box, found {tuple(raw_in.shape)} and '
                             f'{tuple(feat_in.shape)}')
        raw = raw_in.new_zeros(n * r * s).index_copy(0, index, raw_in)
        feat = feat_in.new_zeros(n * r * s, feat_in.shape[1]).index_copy(
            0, index, feat_in)
        return raw.view(n, r * s), feat.view(n, r * s, -1)

    @fp32_region
    def _sample_geometry(self, phi: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Samples of the rays of the views ``phi``, in float32 also under
        autocast: the ray directions come from a matrix product, which
        autocast would run in bf16 (relative step 2^-8, about 4 mm on the
        box), and the points' positional encoding multiplies them by up to
        ``2^9 pi point_scale`` -- a phase error of over a radian at the top
        octave.

        Returns:
            dict: ``t Tensor[N, R, S]``, ``points`` and ``ray_dirs``
            ``Tensor[N, R, S, 3]``, ``ray_length Tensor[N, R]`` (``|d|``)
            and ``inside Tensor[N, R, S]`` (None without a box).
        """
        origins, dirs = self.ray_bundle(phi)  # (N, 3), (N, R, 3)
        n, r = dirs.shape[:2]
        t = self.sample_depths(r, n, dirs.device, dirs.dtype)  # (N, R, S)
        points = origins[:, None, None] + t.unsqueeze(-1) * dirs.unsqueeze(
            2)  # (N, R, S, 3)
        return dict(
            t=t,
            points=points,
            ray_dirs=dirs.unsqueeze(2).expand(-1, -1, self.num_samples, -1),
            ray_length=dirs.norm(dim=-1),
            inside=None if self.bound is None else self.inside_box(points))

    def _geometry(self, phi: torch.Tensor) -> Dict[str, torch.Tensor]:
        """:meth:`_sample_geometry`, cached in eval mode on the CPU.

        Without the depth jitter the samples depend on ``phi`` (and the
        camera settings) only, and at batch-1 inference computing them
        again is a sizeable part of the renderer's cost (a few dozen small
        ops). Entries are keyed by ``phi``'s values and the settings; calls
        of more than ``GEOMETRY_CACHE_MAX_ROWS`` views, on a GPU (reading
        ``phi`` would synchronise), under ``torch.compile`` or in training
        mode, or with a ``phi`` that requires grad compute afresh;
        :meth:`train` empties the cache.
        """
        if (self.training or phi.device.type != 'cpu' or phi.requires_grad
                or phi.numel() > GEOMETRY_CACHE_MAX_ROWS
                or torch.compiler.is_compiling()):
            return self._sample_geometry(phi)
        key = (phi.dtype, phi.detach().double().numpy().tobytes(), self.near,
               self.far, self.num_samples, self.camera_radius, self.fov,
               self.bound, self.map_size)
        geo = self._geometry_cache.get(key)
        if geo is None:
            if len(self._geometry_cache) >= GEOMETRY_CACHE_SIZE:
                self._geometry_cache.pop(next(iter(self._geometry_cache)))
            geo = self._geometry_cache[key] = self._sample_geometry(phi)
        return geo

    def train(self, mode: bool = True) -> 'VolumeRenderer':
        self._geometry_cache.clear()
        return super().train(mode)

    def forward(
        self,
        field: FieldFn,
        phi: torch.Tensor,
        return_extras: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict]]:
        """Render.

        Args:
            field (callable): ``field(points Tensor[N, P, 3], dirs
                Tensor[N, P, 3]) -> (raw Tensor[N, P], feat Tensor[N, P, C])``
                with points in the field frame and ``raw`` the density before
                :meth:`density`; per-batch conditioning (e.g. a latent
                repeated per view) is the caller's business. With
                ``skip_empty`` it is called in the flat layout instead:
                ``field(points Tensor[M, 3], dirs Tensor[M, 3], rows=
                Tensor[M]) -> (raw Tensor[M], feat Tensor[M, C])``, the
                ``M`` samples inside the box, ``rows`` the ray batch
                (``0 .. N-1``) of each.
            phi (Tensor[N]): Azimuth of each ray batch, radians.
            return_extras (bool): Also return a dict with ``weights
                Tensor[N, H, W, S]``, ``density Tensor[N, H, W, S]`` (after
                activation and box mask), ``depth Tensor[N, H, W]`` (expected
                sample depth) and ``opacity Tensor[N, H, W]`` (sum of weights).

        Returns:
            Tensor[N, C, H, W] (and the extras dict if asked).
        """
        if phi.dim() != 1:
            raise ValueError('VolumeRenderer expects phi as Tensor[N], found '
                             f'shape {tuple(phi.shape)}')
        geo = self._geometry(phi)
        points, t, inside = geo['points'], geo['t'], geo['inside']
        n, r, s = t.shape
        if inside is not None and self._skips_empty(points):
            raw, feat = self._field_inside(field, geo)
        else:
            raw, feat = field(
                points.reshape(n, r * s, 3),
                geo['ray_dirs'].reshape(n, r * s, 3))
        if (raw.shape != (n, r * s) or feat.dim() != 3
                or feat.shape[:2] != (n, r * s)):
            raise ValueError(f'VolumeRenderer: field must return sigma '
                             f'Tensor[{n}, {r * s}] and feat '
                             f'Tensor[{n}, {r * s}, C], found '
                             f'{tuple(raw.shape)} and {tuple(feat.shape)}')
        sigma = self.density(raw.reshape(n, r, s), points, inside)  # (N, R, S)
        feat = feat.reshape(n, r, s, -1)  # (N, R, S, C)
        rendered, weights = self.composite(sigma, feat, t, geo['ray_length'])
        fmap = rearrange(
            rendered, 'n (h w) c -> n c h w', h=self.map_size)  # (N, C, H, W)
        if not return_extras:
            return fmap
        hw = dict(h=self.map_size)
        extras = dict(
            weights=rearrange(weights, 'n (h w) s -> n h w s', **hw),
            density=rearrange(sigma, 'n (h w) s -> n h w s', **hw),
            depth=rearrange((weights * t).sum(-1), 'n (h w) -> n h w', **hw),
            opacity=rearrange(weights.sum(-1), 'n (h w) -> n h w', **hw))
        return fmap, extras
