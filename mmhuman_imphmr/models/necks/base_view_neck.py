"""The neck interface: backbone map (+ azimuths) -> :class:`NeckOutput`.

A template method on an abstract ``BaseModule``, as mmpose's heads are built
(``mmpose/models/heads/base_head.py``): the base runs the shared front end
(foreground attention -> GAP -> ``z_fg``), validates and flattens the views,
calls the one hook a neck implements (:meth:`BaseViewNeck.forward_views`) and
aggregates a rendered map into the latent.
"""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
from einops import rearrange, repeat
from mmengine.model import BaseModule

from mmhuman_imphmr.utils.typing import OptConfigType
from ..utils import SpatialAttention


@dataclass
class NeckOutput:
    """What every neck returns; rows are ``b*V + v``.

    Attributes:
        latent (Tensor[B*V, C]): The regressor's input ``z_phi`` per view.
        feature_map (Tensor[B*V, C, H, W], optional): Rendered / projected map
            (the silhouette head's input); ``None`` for necks that render
            none (``renders_map = False``).
        opacity (Tensor[B*V, H, W], optional): Accumulated opacity of a
            volume-rendered map (sum of the ray weights); ``None`` for necks
            that do not volume-render.
    """

    latent: torch.Tensor
    feature_map: Optional[torch.Tensor] = None
    opacity: Optional[torch.Tensor] = None


class BaseViewNeck(BaseModule, metaclass=ABCMeta):
    """Base of every neck: ``forward(feats, phi) -> NeckOutput``.

    ``forward`` is a template: ``z_fg = GAP(A(feats))`` -> check ``phi`` ->
    :meth:`forward_views` (the subclass) -> :meth:`aggregate` (when the hook
    returns a map). Subclasses set:

    * ``view_aware`` (bool): the latent depends on ``phi``. A neck that is not
      view aware returns one row per sample from :meth:`forward_views`; the
      base repeats it over the views so that callers treat every neck alike.
    * ``renders_map`` (bool): the hook returns a map ``Tensor[B*V, C, H, W]``
      (a silhouette head can be attached), aggregated by ``self.aggregation``
      into the latent; otherwise it returns the latent itself.
    * ``out_channels`` (int): ``C`` of the latent (and map).

    Args:
        in_channels (int): Channels ``C`` of the backbone map.
        use_attention (bool): Apply the foreground (CBAM spatial) attention
            before pooling. Defaults to True (paper).
        attention_kernel (int): Its kernel size. Defaults to 7 (CBAM).
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: batch, V: views per sample, C: channels, h x w: backbone map,
        H x W: rendered map.
    """

    view_aware: bool = True
    renders_map: bool = False

    def __init__(self,
                 in_channels: int,
                 use_attention: bool = True,
                 attention_kernel: int = 7,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.use_attention = use_attention
        self.attention = (
            SpatialAttention(attention_kernel)
            if use_attention else nn.Identity())

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """``z_fg = GAP(A(z))``.

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.

        Returns:
            Tensor[B, C]
        """
        if feats.dim() != 4 or feats.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects feats Tensor[B, '
                f'{self.in_channels}, h, w], found {tuple(feats.shape)}')
        return self.attention(feats).mean(dim=(2, 3))

    @staticmethod
    def check_phi(phi: Optional[torch.Tensor], batch_size: int,
                  like: torch.Tensor) -> torch.Tensor:
        """Default and validate the azimuths.

        Args:
            phi (Tensor[B, V] | Tensor[B] | None): Azimuths in radians.
                ``None`` means the canonical view (``phi = 0``, ``V = 1``); a
                1-D tensor means one view per sample.
            batch_size (int): ``B``.
            like (Tensor): Gives dtype and device for the default.

        Returns:
            Tensor[B, V]
        """
        if phi is None:
            phi = like.new_zeros(batch_size, 1)
        elif phi.dim() == 1:
            phi = phi.unsqueeze(1)
        if phi.dim() != 2 or phi.shape[0] != batch_size:
            raise ValueError(f'neck: phi must be Tensor[B={batch_size}, V], '
                             f'Tensor[B] or None, found {tuple(phi.shape)}')
        return phi.to(like.dtype)

    @abstractmethod
    def forward_views(self, z_fg: torch.Tensor, phi: torch.Tensor,
                      num_views: int
                      ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The neck's own part: ``z_fg`` -> one output per view.

        Args:
            z_fg (Tensor[B, C_in]): Pooled foreground code.
            phi (Tensor[B*V]): Azimuths, row ``b*V + v``.
            num_views (int): ``V``.

        Returns:
            tuple: ``(views, opacity)``. ``views`` is the map
            ``Tensor[B*V, C, H, W]`` if ``renders_map``, else the latent,
            ``Tensor[B*V, C]`` (view aware) or ``Tensor[B, C]`` (not view
            aware: repeated over the views by :meth:`forward`).
            ``opacity`` is ``Tensor[B*V, H, W]`` or ``None``.
        """

    def aggregate(self, fmap: torch.Tensor) -> torch.Tensor:
        """``AGG``: ``Tensor[B*V, C, H, W]`` -> ``Tensor[B*V, C]``."""
        return self.aggregation(fmap)

    def forward(self,
                feats: torch.Tensor,
                phi: Optional[torch.Tensor] = None,
                extra: Optional[Tuple[torch.Tensor,
                                      torch.Tensor]] = None) -> NeckOutput:
        """Encode, render / project the views ``phi``, aggregate.

        Args:
            feats (Tensor[B, C_in, h, w]): Backbone map.
            phi (Tensor[B, V] | Tensor[B] | None): Azimuths (radians);
                ``None`` is the canonical view ``phi = 0``, ``V = 1``.
            extra (tuple, optional): ``(index Tensor[Ne] long, phi
                Tensor[Ne])``: ``Ne`` more rows, row ``B*V + i`` is sample
                ``index[i]`` seen at ``phi[i]`` (``L_cons``'s second view of
                some samples). They are rendered in the same pass from the
                same ``z_fg``, so the encoder runs once per image.

        Returns:
            NeckOutput: ``latent Tensor[B*V (+ Ne), C]``, ``feature_map``
            and ``opacity``, row ``b*V + v`` then the extra rows.
        """
        z_fg = self.encode(feats)  # (B, C_in)
        phi = self.check_phi(phi, feats.shape[0], z_fg)  # (B, V)
        num_views = phi.shape[1]
        rows = feats.shape[0] * num_views
        views, opacity = self.forward_views(z_fg,
                                            rearrange(phi, 'b v -> (b v)'),
                                            num_views)
        if not self.view_aware:  # (B, ...) -> (B*V, ...)
            views = repeat(views, 'b ... -> (b v) ...', v=num_views)
        if extra is not None:
            index, extra_phi = extra
            if (index.dim() != 1 or extra_phi.shape != index.shape
                    or index.dtype not in (torch.int32, torch.int64)):
                raise ValueError(
                    f'{type(self).__name__}: extra must be (index '
                    f'Tensor[Ne] long, phi Tensor[Ne]), found '
                    f'{tuple(index.shape)} {index.dtype} and '
                    f'{tuple(extra_phi.shape)}')
            # One more view of some samples, from the z_fg computed above.
            more, more_opacity = self.forward_views(z_fg[index],
                                                    extra_phi.to(z_fg.dtype),
                                                    1)
            views = torch.cat([views, more])
            if opacity is not None:
                opacity = torch.cat([opacity, more_opacity])
            rows += index.numel()
        dims = 4 if self.renders_map else 2
        if views.dim() != dims or views.shape[0] != rows:
            raise ValueError(
                f'{type(self).__name__}.forward_views must return '
                f'{"a map Tensor[B*V, C, H, W]" if dims == 4 else "a latent"} '
                f'with B*V={rows} rows (B={feats.shape[0]} rows if the neck '
                f'is not view aware); found {tuple(views.shape)}')
        if not self.renders_map:
            return NeckOutput(latent=views, opacity=opacity)
        return NeckOutput(
            latent=self.aggregate(views), feature_map=views, opacity=opacity)
