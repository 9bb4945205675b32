"""Lambertian shading of rasterized fragments: the one shader of the project.

``MeshRasterizer.render`` (visualizer, demo, ``PyTorch3DRasterizer``) and the
synthetic data generator (one light and ambient share per image) both shade
here, so the images the model trains on and the overlays it is judged by are
lit by the same code.

Note:
    B batch, V vertices, F faces, H x W image, P covered pixels of the whole
    batch.
"""
from typing import Dict, Optional, Sequence, Union

import torch
from torch import Tensor

LightType = Union[Tensor, Sequence[float]]
AmbientType = Union[float, Tensor]


def shade_fragments(fragments: Dict[str, Tensor],
                    vertices: Tensor,
                    faces: Tensor,
                    vertex_colors: Tensor,
                    background: Optional[Union[Tensor,
                                               Sequence[float]]] = None,
                    light_direction: LightType = (0.0, 0.0, 1.0),
                    ambient: AmbientType = 0.4,
                    shading: str = 'smooth') -> Dict[str, Tensor]:
    """Lambertian shading of rasterized fragments, over a background.

    Colour = vertex colour (perspective-correct barycentric interpolation)
    times ``ambient + (1 - ambient) * max(0, -n . l)``, with ``l`` the unit
    direction the light travels and ``n`` the unit normal turned toward the
    camera (``n . (-p) >= 0`` at the surface point ``p``), so the shading does
    not depend on the winding ('flat') or only needs it consistent
    ('smooth').

    'smooth' interpolates the area-weighted vertex normals (at each vertex
    the sum of the cross products of its faces, not normalised per vertex:
    a large face counts more than a sliver) and normalises the result per
    pixel. On an inconsistently wound mesh the sums cancel; use 'flat'.

    Args:
        fragments (dict): Output of ``MeshRasterizer.rasterize``:
            ``face_index`` Tensor[B, H, W] (-1 where empty), ``bary``
            Tensor[B, H, W, 3], ``depth`` Tensor[B, H, W].
        vertices (Tensor[B, V, 3]): Camera-frame vertices.
        faces (Tensor[F, 3]): int64 vertex indices.
        vertex_colors (Tensor[V, 3] | Tensor[B, V, 3]): RGB in [0, 1].
        background (Tensor[B, H, W, 3] | Tensor[H, W, 3] | RGB, optional):
            Defaults to black.
        light_direction (tuple[float] | Tensor[3] | Tensor[B, 3]): Direction
            of travel of the light, one for the batch or one per image.
            Defaults to (0, 0, 1), a headlight.
        ambient (float | Tensor[B]): Ambient share in [0, 1], one for the
            batch or one per image. Defaults to 0.4.
        shading (str): 'smooth' or 'flat'. Defaults to 'smooth'.

    Returns:
        dict: ``image`` Tensor[B, H, W, 3] in [0, 1], ``mask``
        Tensor[B, H, W] (0/1), ``depth`` Tensor[B, H, W] (the fragments').
    """
    face_index, bary = fragments['face_index'], fragments['bary']
    batch, height, width = face_index.shape
    num_verts = vertices.shape[1]
    dtype, device = vertices.dtype, vertices.device
    if shading not in ('smooth', 'flat'):
        raise ValueError(
            f"shading must be 'smooth' or 'flat', found {shading!r}")
    colors = _per_image(
        vertex_colors, batch, (num_verts, 3), 'vertex_colors',
        f'Tensor[V, 3] or Tensor[B, V, 3] with B={batch}, '
        f'V={num_verts}', dtype, device)
    light = torch.nn.functional.normalize(
        _per_image(light_direction, batch, (3, ), 'light_direction',
                   f'3 numbers, Tensor[3] or Tensor[B, 3] with B={batch}',
                   dtype, device),
        dim=-1)
    amb = _per_image(ambient, batch, (), 'ambient',
                     f'a float or Tensor[B] with B={batch}', dtype, device)
    if not bool(((amb >= 0) & (amb <= 1)).all()):
        raise ValueError(f'ambient must be in [0, 1], found '
                         f'{amb.min().item()}..{amb.max().item()}')
    image = _background(background, batch, height, width, dtype, device)

    # Gathers on flattened tensors with index_select (much faster on CPU
    # than advanced indexing; the same arithmetic).
    flat_index = face_index.reshape(-1)
    pix = (flat_index >= 0).nonzero().squeeze(1)  # b * H * W + i * W + j
    if pix.numel():
        b = torch.div(pix, height * width, rounding_mode='floor')  # (P, )
        vid = faces.index_select(0, flat_index.index_select(0, pix))  # (P, 3)
        gid = (vid + (b * num_verts).unsqueeze(1)).view(-1)  # into B * V
        w = bary.reshape(-1, 3).index_select(0, pix).unsqueeze(-1)  # (P,3,1)

        def gather(t: Tensor) -> Tensor:  # (B, V, 3) -> (P, 3, 3)
            return t.reshape(-1, 3).index_select(0, gid).view(-1, 3, 3)

        corners = gather(vertices)  # (P, 3, 3)
        if shading == 'flat':
            normal = torch.cross(
                corners[:, 1] - corners[:, 0],
                corners[:, 2] - corners[:, 0],
                dim=-1)
        else:
            normal = (gather(vertex_normals(vertices, faces)) * w).sum(1)
        normal = torch.nn.functional.normalize(normal, dim=-1)  # (P, 3)
        point = (corners * w).sum(1)
        facing = torch.where((normal * point).sum(-1, keepdim=True) > 0, -1.0,
                             1.0)
        normal = normal * facing  # toward the camera
        lambert = (-(normal * light.index_select(0, b)).sum(-1)).clamp(min=0)
        amb_p = amb.index_select(0, b)
        shade = amb_p + (1 - amb_p) * lambert  # (P, )
        rgb = ((gather(colors) * w).sum(1) * shade.unsqueeze(-1)).clamp(0, 1)
        image.view(-1, 3).index_copy_(0, pix, rgb)
    return dict(
        image=image,
        mask=(face_index >= 0).to(dtype),
        depth=fragments['depth'])


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted vertex normals, not normalised.

    Args:
        vertices (Tensor[B, V, 3]): Vertices.
        faces (Tensor[F, 3]): int64 vertex indices.

    Returns:
        Tensor[B, V, 3]: At each vertex the sum of ``(v1 - v0) x (v2 - v0)``
        over the faces that contain it (twice their area times their unit
        normal).
    """
    batch = vertices.shape[0]
    tri = vertices.index_select(1, faces.reshape(-1)).view(batch, -1, 3,
                                                           3)  # (B, F, 3, 3)
    face_normal = torch.cross(
        tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, faces[:, k], face_normal)
    return normals


def _per_image(value, batch: int, shape: tuple, name: str, expected: str,
               dtype: torch.dtype, device: torch.device) -> Tensor:
    """``value`` as Tensor[B, *shape]: one for the batch is expanded."""
    tensor = torch.as_tensor(value, dtype=dtype, device=device)
    if tuple(tensor.shape) == shape:
        tensor = tensor.unsqueeze(0).expand(batch, *shape)
    if tuple(tensor.shape) != (batch, *shape):
        raise ValueError(f'{name} must be {expected}, found '
                         f'{tuple(tensor.shape)}')
    return tensor


def _background(background, batch: int, height: int, width: int,
                dtype: torch.dtype, device: torch.device) -> Tensor:
    """A fresh ``Tensor[B, H, W, 3]`` background (black by default)."""
    if background is None:
        return torch.zeros(batch, height, width, 3, dtype=dtype, device=device)
    bg = torch.as_tensor(background, dtype=dtype, device=device)
    if bg.dim() == 1 and bg.numel() == 3:
        bg = bg.view(1, 1, 1, 3)
    elif bg.dim() == 3:
        bg = bg.unsqueeze(0)
    if bg.dim() != 4 or bg.shape[-1] != 3 or bg.shape[1:3] != (height, width) \
            and bg.shape[1:3] != (1, 1) or bg.shape[0] not in (1, batch):
        raise ValueError(f'background must be an RGB triple, Tensor[H, W, 3] '
                         f'or Tensor[B, H, W, 3] with B={batch}, H={height}, '
                         f'W={width}, found {tuple(bg.shape)}')
    return bg.expand(batch, height, width, 3).clone()
