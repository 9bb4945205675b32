"""The conditioned MLP ``h`` of ImpHMR (eq. 2-3): a GIRAFFE object decoder.

Structure learned from GIRAFFE's object decoder (Niemeyer & Geiger, CVPR 2021,
``im2scene/giraffe/models/decoder.py``); ImpHMR changes its latent and feature
sizes to 2048 and conditions it on the single code ``z_fg`` (sec. 6.1).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhuman_imphmr.registry import MODELS
from .positional_encoding import PositionalEncoding


@MODELS.register_module()
class FeatureField(nn.Module):
    """Latent-conditioned neural feature field ``(x, r, z) -> (sigma, f)``.

    Density trunk: ``relu(W_in gamma(x) + W_z z)``, then ``num_layers - 1``
    blocks ``relu(W h)``; after the ``k``-th block for ``k`` in
    ``skip_layers``, ``W'_z z + W'_x gamma(x)`` is **added** (GIRAFFE adds,
    NeRF concatenates). ``sigma`` is a linear read-out of the trunk, returned
    raw: the renderer turns it into a density (bias, activation, box mask,
    see :class:`VolumeRenderer`), as GIRAFFE's generator does. Feature
    branch: ``relu(W_f h + W_zf z + W_r gamma(dir_scale r / |r|))`` then a
    linear layer to ``out_channels``, no output activation (GIRAFFE's feature
    fields use none). GIRAFFE's decoder divides the unit ray direction by its
    point downscale (2) as well before the encoding
    (``transform_points(ray_d, views=True)``); ``dir_scale = 0.5`` does the
    same.

    Args:
        latent_dim (int): Size of ``z`` (2048 = ResNet-50 channels).
        out_channels (int): Size of ``f`` (2048 in the paper).
        hidden_dim (int): Width. Defaults to 128 (GIRAFFE).
        num_layers (int): Linear layers of the density trunk, the input layer
            included. Defaults to 8 (GIRAFFE).
        skip_layers (Sequence[int]): Blocks after which ``z`` and ``gamma(x)``
            are added again, counted over the ``num_layers - 1`` blocks after
            the input layer as GIRAFFE does. Defaults to (4,).
        pe_octaves_points (int): Octaves for points. Defaults to 10.
        pe_octaves_dirs (int): Octaves for ray directions. Defaults to 4.
        point_scale (float): Points are multiplied by this before the
            encoding; GIRAFFE divides by 2. An assumption. Defaults to 0.5.
            The lowest octave then has period ``2 / point_scale = 4`` field
            units, longer than the renderer's box (side 2.2), so the encoding
            does not repeat inside it.
        dir_scale (float): Unit ray directions are multiplied by this before
            the encoding. Defaults to 0.5 (GIRAFFE).

    Note:
        N: ray batches (one per rendered view), P: points per batch,
        D: ``latent_dim``, C: ``out_channels``.
    """

    def __init__(self,
                 latent_dim: int = 2048,
                 out_channels: int = 2048,
                 hidden_dim: int = 128,
                 num_layers: int = 8,
                 skip_layers: Sequence[int] = (4, ),
                 pe_octaves_points: int = 10,
                 pe_octaves_dirs: int = 4,
                 point_scale: float = 0.5,
                 dir_scale: float = 0.5) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f'FeatureField: num_layers must be >= 2, found '
                             f'{num_layers}')
        self.skip_layers = tuple(int(k) for k in skip_layers)
        for k in self.skip_layers:
            if not 1 <= k <= num_layers - 2:
                raise ValueError(
                    f'FeatureField: skip_layers entries must lie in '
                    f'[1, num_layers - 2] = [1, {num_layers - 2}], found {k}')
        self.latent_dim = latent_dim
        self.out_channels = out_channels
        self.pe_points = PositionalEncoding(
            pe_octaves_points, input_scale=point_scale)
        self.pe_dirs = PositionalEncoding(
            pe_octaves_dirs, input_scale=dir_scale)
        dim_x, dim_r = self.pe_points.out_dim, self.pe_dirs.out_dim

        # density trunk
        self.fc_points = nn.Linear(dim_x, hidden_dim)
        self.fc_latent = nn.Linear(latent_dim, hidden_dim)
        self.blocks = nn.ModuleList(
            [nn.Linear(hidden_dim, hidden_dim) for _ in range(num_layers - 1)])
        self.skip_latent = nn.ModuleList(
            [nn.Linear(latent_dim, hidden_dim) for _ in self.skip_layers])
        self.skip_points = nn.ModuleList(
            [nn.Linear(dim_x, hidden_dim) for _ in self.skip_layers])
        self.sigma_out = nn.Linear(hidden_dim, 1)

        # feature branch
        self.fc_feat = nn.Linear(hidden_dim, hidden_dim)
        self.fc_latent_feat = nn.Linear(latent_dim, hidden_dim)
        self.fc_dirs = nn.Linear(dim_r, hidden_dim)
        self.feat_out = nn.Linear(hidden_dim, out_channels)

    def forward(self,
                points: torch.Tensor,
                dirs: torch.Tensor,
                latent: torch.Tensor,
                return_hidden: bool = False,
                rows: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Evaluate the field.

        Two layouts: batched (``rows=None``), ``P`` points for each of the
        ``N`` codes; or flat, ``M`` points of any rows, point ``m`` taking
        the code ``latent[rows[m]]`` -- what :class:`VolumeRenderer` uses to
        evaluate only the samples inside its box. Both compute the same
        function; each latent term is evaluated once per code and then
        broadcast (batched) or gathered (flat).

        Args:
            points (Tensor[N, P, 3] | Tensor[M, 3]): Points in the field
                frame.
            dirs (Tensor[N, P, 3] | Tensor[M, 3]): Ray directions (any
                length; normalised here, as GIRAFFE does, then scaled by
                ``dir_scale``).
            latent (Tensor[N, D]): Conditioning code, one per ray batch.
            return_hidden (bool): Return the feature branch before its last
                (linear) layer ``feat_out``, ``Tensor[..., hidden_dim]``.
                Volume rendering is linear in the features, so rendering
                these and applying ``feat_out`` afterwards is exact (see
                :class:`FeatureFieldNeck`). Defaults to False.
            rows (Tensor[M], optional): Integer index into ``latent`` of each
                point (flat layout). Defaults to None (batched layout).

        Returns:
            tuple: ``sigma Tensor[N, P]`` (``Tensor[M]`` flat; raw, before
            the renderer's activation) and ``feat Tensor[N, P, C]``
            (``Tensor[M, C]`` flat).
        """
        if rows is None:
            if (points.dim() != 3 or points.shape[-1] != 3
                    or dirs.shape != points.shape):
                raise ValueError('FeatureField expects points and dirs as '
                                 f'Tensor[N, P, 3], found '
                                 f'{tuple(points.shape)} and '
                                 f'{tuple(dirs.shape)}')
            if latent.shape != (points.shape[0], self.latent_dim):
                raise ValueError(f'FeatureField expects latent Tensor[N, '
                                 f'{self.latent_dim}] with '
                                 f'N={points.shape[0]}, found '
                                 f'{tuple(latent.shape)}')

            def per_point(term: torch.Tensor) -> torch.Tensor:
                return term.unsqueeze(1)  # (N, 1, hidden), broadcast over P
        else:
            if (points.dim() != 2 or points.shape[-1] != 3
                    or dirs.shape != points.shape
                    or rows.shape != points.shape[:1]
                    or rows.dtype not in (torch.int32, torch.int64)):
                raise ValueError(
                    'FeatureField with rows expects points and dirs as '
                    'Tensor[M, 3] and rows as an integer Tensor[M], found '
                    f'{tuple(points.shape)}, {tuple(dirs.shape)} and '
                    f'{tuple(rows.shape)} {rows.dtype}')
            if latent.dim() != 2 or latent.shape[1] != self.latent_dim:
                raise ValueError(f'FeatureField expects latent Tensor[N, '
                                 f'{self.latent_dim}], found '
                                 f'{tuple(latent.shape)}')

            def per_point(term: torch.Tensor) -> torch.Tensor:
                return term.index_select(0, rows)  # (M, hidden)

        gamma_x = self.pe_points(points)  # (..., Lx)
        net = F.relu(
            self.fc_points(gamma_x) +
            per_point(self.fc_latent(latent)))  # (..., hidden)
        skip_idx = 0
        for idx, block in enumerate(self.blocks):
            net = F.relu(block(net))
            if idx + 1 in self.skip_layers:
                net = net + per_point(self.skip_latent[skip_idx](latent))
                net = net + self.skip_points[skip_idx](gamma_x)
                skip_idx += 1
        sigma = self.sigma_out(net).squeeze(-1)  # (N, P) | (M,)

        gamma_r = self.pe_dirs(F.normalize(dirs, dim=-1))  # (..., Lr)
        feat = F.relu(
            self.fc_feat(net) + per_point(self.fc_latent_feat(latent)) +
            self.fc_dirs(gamma_r))
        if return_hidden:
            return sigma, feat  # (..., hidden)
        feat = self.feat_out(feat)  # (..., C)
        return sigma, feat
