"""A batched triangle-mesh rasterizer in plain PyTorch (CPU and CUDA).

pytorch3d has no Linux distribution on PyPI, and the silhouette targets of
ImpHMR need no gradient (DESIGN §2), so the project rasterizes by itself.

Conventions:

* Camera: pinhole, OpenCV axes (x right, y down, z forward), identity
  rotation, i.e. vertices are given in the camera frame (as SPIN's
  ``vertices + translation``). A point ``(x, y, z)`` lands at pixel
  coordinates ``u = f_x x / z + c_x``, ``v = f_y y / z + c_y``.
* Pixels: pixel ``(i, j)`` (row ``i``, column ``j``) covers
  ``[j, j + 1) x [i, i + 1)`` and is sampled at its centre
  ``(j + 0.5, i + 0.5)``. The default principal point is the image centre
  ``(W / 2, H / 2)``, so the optical axis passes between the four middle
  pixels of an even-sized image (the same as SPIN's ``crop_size / 2``).
* A pixel is covered by a triangle when its centre lies inside it or on its
  boundary (barycentric coordinates ``>= -EDGE_TOLERANCE``): pixels whose
  centre lies exactly on an edge shared by two triangles are never dropped.
* Near plane: a triangle with any vertex at ``z <= near`` is not drawn at all
  (no clipping). Meshes are expected to lie in front of the camera; a triangle
  crossing the camera plane would otherwise project to a huge, wrong shape.
* Degenerate triangles (projected area below ``1e-10`` px^2) are skipped.
  Both windings are drawn (no back-face culling).

Algorithm (all triangles of all meshes at once, no Python loop over faces):
project the vertices; give each triangle the integer range of pixel centres
its bounding box contains (clipped to the image); expand candidate
(triangle, pixel) pairs with ``torch.repeat_interleave`` over the box areas,
in chunks of at most ``max_candidates`` pairs to bound memory; test them with
precomputed, area-normalised edge coefficients (which are the barycentric
coordinates); then either mark the pixels (silhouette) or keep the nearest
triangle per pixel with ``scatter_reduce('amin')`` on an int64 key that packs
the float32 depth bits (monotonic for positive floats) above the face index.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import CROP_SIZE, FOCAL_LENGTH
from .shading import AmbientType, LightType, shade_fragments

# Barycentric slack of the inside test: closes float-rounding pin-holes on
# edges shared by two triangles (a pixel may then count for both; harmless).
EDGE_TOLERANCE = 1e-6
_EMPTY_KEY = torch.iinfo(torch.int64).max


@MODELS.register_module()
class MeshRasterizer(nn.Module):
    """Z-buffered rasterizer of batched triangle meshes with a pinhole camera.

    Args:
        image_size (int | tuple[int, int]): ``S`` (square) or ``(H, W)``.
            Defaults to 128 (the silhouette size of ImpHMR).
        focal_length (float | tuple[float, float]): Focal length in pixels,
            ``f`` or ``(f_x, f_y)``. Defaults to SPIN's 5000 for a 224 crop
            scaled to 128, i.e. ``5000 * 128 / 224``.
        principal_point (tuple[float, float], optional): ``(c_x, c_y)`` in
            pixels. Defaults to the image centre ``(W / 2, H / 2)``.
        near (float): Triangles with a vertex at ``z <= near`` are not drawn.
            Defaults to 1e-2 (camera units, metres for SMPL).
        max_candidates (int): Most (triangle, pixel) pairs tested at once;
            bounds the memory (about 100 bytes per pair). Defaults to 2**21.

    Note:
        B: meshes in the batch, V: vertices, F: faces, H x W: image.
        The rasterizer has no parameters and computes no gradients.
    """

    def __init__(self,
                 image_size: Union[int, Sequence[int]] = 128,
                 focal_length: Union[float, Sequence[float]] = FOCAL_LENGTH *
                 128 / CROP_SIZE,
                 principal_point: Optional[Sequence[float]] = None,
                 near: float = 1e-2,
                 max_candidates: int = 2**21) -> None:
        super().__init__()
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.height, self.width = (int(s) for s in image_size)
        if isinstance(focal_length, (int, float)):
            focal_length = (focal_length, focal_length)
        self.fx, self.fy = (float(f) for f in focal_length)
        if principal_point is None:
            principal_point = (self.width / 2.0, self.height / 2.0)
        self.cx, self.cy = (float(c) for c in principal_point)
        if self.height <= 0 or self.width <= 0 or near <= 0:
            raise ValueError(f'MeshRasterizer: image_size must be positive '
                             f'and near > 0, found {image_size}, {near}')
        self.near = float(near)
        self.max_candidates = int(max_candidates)

    def extra_repr(self) -> str:
        return (
            f'image_size=({self.height}, {self.width}), '
            f'focal_length=({self.fx:g}, {self.fy:g}), '
            f'principal_point=({self.cx:g}, {self.cy:g}), near={self.near}')

    # ------------------------------------------------------------------
    # Public API

    @torch.no_grad()
    def silhouette(self, vertices: Tensor, faces: Tensor) -> Tensor:
        """Binary silhouettes (the target of the silhouette loss).

        Args:
            vertices (Tensor[B, V, 3]): Camera-frame vertices.
            faces (Tensor[F, 3]): Vertex indices, shared by the batch.

        Returns:
            Tensor[B, H, W]: 1.0 where a triangle covers the pixel centre.
        """
        vertices, faces = self._check_inputs(vertices, faces)
        batch = vertices.shape[0]
        mask = torch.zeros(
            batch * self.height * self.width,
            dtype=vertices.dtype,
            device=vertices.device)
        for pix, _, _, _ in self._covered_pairs(
                vertices, faces, need_bary=False):
            mask[pix] = 1.0
        return mask.view(batch, self.height, self.width)

    @torch.no_grad()
    def rasterize(self, vertices: Tensor, faces: Tensor) -> Dict[str, Tensor]:
        """Nearest triangle per pixel, with perspective-correct barycentrics.

        Args:
            vertices (Tensor[B, V, 3]): Camera-frame vertices.
            faces (Tensor[F, 3]): Vertex indices, shared by the batch.

        Returns:
            dict: ``face_index`` (Tensor[B, H, W], int64 index into ``faces``,
            -1 where empty), ``bary`` (Tensor[B, H, W, 3], perspective-correct
            barycentric weights of the face's three vertices, 0 where empty),
            ``depth`` (Tensor[B, H, W], camera z of the visible surface, 0
            where empty).
        """
        vertices, faces = self._check_inputs(vertices, faces)
        batch = vertices.shape[0]
        num_pix = batch * self.height * self.width
        device = vertices.device
        zbuf = torch.full((num_pix, ),
                          _EMPTY_KEY,
                          dtype=torch.int64,
                          device=device)
        for pix, face, _, inv_z in self._covered_pairs(
                vertices, faces, need_bary=True):
            depth_bits = (1.0 /
                          inv_z).float().view(torch.int32).to(torch.int64)
            key = (depth_bits << 32) | face
            zbuf.scatter_reduce_(0, pix, key, reduce='amin', include_self=True)

        covered = zbuf != _EMPTY_KEY
        pix = covered.nonzero().squeeze(1)
        face_local = (zbuf[pix] & 0xFFFFFFFF)  # index into ``faces``
        # Barycentrics at the winning face only (one evaluation per pixel).
        b_idx = pix // (self.height * self.width)
        rem = pix - b_idx * (self.height * self.width)
        rows, cols = rem // self.width, rem % self.width
        tri = vertices[b_idx.unsqueeze(1), faces[face_local]]  # (P, 3, 3)
        uv = self._project(tri)
        xy = torch.stack([cols, rows], -1).to(uv.dtype) + 0.5
        w1, w2 = _screen_barycentrics(uv, xy)
        w0 = 1.0 - w1 - w2
        screen = torch.stack([w0, w1, w2], -1)  # (P, 3)
        persp = screen / tri[..., 2]
        inv_z = persp.sum(-1, keepdim=True)
        bary = persp / inv_z

        face_index = torch.full((num_pix, ),
                                -1,
                                dtype=torch.int64,
                                device=device)
        face_index[pix] = face_local
        bary_out = vertices.new_zeros(num_pix, 3)
        bary_out[pix] = bary
        depth = vertices.new_zeros(num_pix)
        depth[pix] = 1.0 / inv_z.squeeze(1)
        shape = (batch, self.height, self.width)
        return dict(
            face_index=face_index.view(shape),
            bary=bary_out.view(*shape, 3),
            depth=depth.view(shape))

    @torch.no_grad()
    def render(self,
               vertices: Tensor,
               faces: Tensor,
               vertex_colors: Tensor,
               background: Optional[Union[Tensor, Sequence[float]]] = None,
               light_direction: LightType = (0.0, 0.0, 1.0),
               ambient: AmbientType = 0.4,
               shading: str = 'smooth') -> Dict[str, Tensor]:
        """Shaded colour images composited over a background.

        See :func:`~mmhuman_imphmr.renderer.shading.shade_fragments` for
        the lighting model (Lambertian, normals turned toward the camera).

        Args:
            vertices (Tensor[B, V, 3]): Camera-frame vertices.
            faces (Tensor[F, 3]): Vertex indices, shared by the batch.
            vertex_colors (Tensor[V, 3] | Tensor[B, V, 3]): RGB in [0, 1].
            background (Tensor[B, H, W, 3] | Tensor[H, W, 3] | RGB, optional):
                Defaults to black.
            light_direction (tuple[float] | Tensor[3] | Tensor[B, 3]):
                Direction the light travels, in the camera frame, for the
                batch or per image. Defaults to (0, 0, 1): a headlight
                shining forward from the camera.
            ambient (float | Tensor[B]): Ambient share of the shading in
                [0, 1]. Defaults to 0.4.
            shading (str): 'smooth' (interpolated vertex normals, needs a
                consistently wound mesh) or 'flat' (face normals, any
                winding). Defaults to 'smooth'.

        Returns:
            dict: ``image`` (Tensor[B, H, W, 3] in [0, 1]), ``mask``
            (Tensor[B, H, W], 0/1) and ``depth`` (Tensor[B, H, W], 0 where
            empty).
        """
        vertices, faces = self._check_inputs(vertices, faces)
        fragments = self.rasterize(vertices, faces)
        return shade_fragments(
            fragments,
            vertices,
            faces,
            vertex_colors,
            background=background,
            light_direction=light_direction,
            ambient=ambient,
            shading=shading)

    # ------------------------------------------------------------------
    # Internals

    def _check_inputs(self, vertices: Tensor,
                      faces: Tensor) -> Tuple[Tensor, Tensor]:
        if vertices.dim() != 3 or vertices.shape[-1] != 3:
            raise ValueError(f'{type(self).__name__}: vertices must be '
                             f'Tensor[B, V, 3], found {tuple(vertices.shape)}')
        if faces.dim() != 2 or faces.shape[-1] != 3:
            raise ValueError(f'{type(self).__name__}: faces must be '
                             f'Tensor[F, 3], found {tuple(faces.shape)}')
        if faces.shape[0] >= 2**31:
            raise ValueError(f'{type(self).__name__}: at most 2**31 - 1 faces '
                             f'(packed in the z-buffer key), found '
                             f'{faces.shape[0]}')
        if not vertices.is_floating_point():
            vertices = vertices.float()
        return vertices, faces.to(device=vertices.device, dtype=torch.int64)

    def _project(self, points: Tensor) -> Tensor:
        """Camera-frame ``Tensor[..., 3]`` to pixel ``Tensor[..., 2]``."""
        z = points[..., 2]
        return torch.stack([
            self.fx * points[..., 0] / z + self.cx,
            self.fy * points[..., 1] / z + self.cy
        ], -1)

    def _covered_pairs(self, vertices: Tensor, faces: Tensor, need_bary: bool):
        """Yield, per chunk, the covered (pixel, face) pairs.

        Per-face work is kept to the few operations that find the faces
        whose bounding box holds a pixel centre (at the sizes this project
        renders, most triangles of a body cover no pixel centre at all); the
        rest is computed for those faces only. Tables are planar (one
        contiguous row per quantity) and gathered with ``index_select``,
        which is several times faster on CPU than advanced indexing.

        Yields:
            tuple: ``pix`` (int64 flat index ``b*H*W + i*W + j``), ``face``
            (int64 index into ``faces``), then screen barycentrics
            ``(w1, w2)`` and interpolated ``1/z``, the last two only when
            ``need_bary`` (else None).
        """
        height, width = self.height, self.width
        batch, num_verts = vertices.shape[0], vertices.shape[1]
        num_faces = faces.shape[0]
        if num_faces == 0 or num_verts == 0:
            return
        device = vertices.device
        # Project each vertex once; gather the corners of every face of every
        # mesh as planar rows: (3 corners, B*F) each for u, v and z.
        flat = vertices.reshape(-1, 3)
        z = flat[:, 2]
        u = self.fx * flat[:, 0] / z + self.cx
        v = self.fy * flat[:, 1] / z + self.cy
        offsets = num_verts * torch.arange(batch, device=device)
        corner = (faces.t().reshape(3, 1, num_faces) +
                  offsets.view(1, batch, 1)).reshape(-1)
        tu, tv, tz = (t.index_select(0, corner).view(3, -1) for t in (u, v, z))

        # Integer range of pixel centres (j + 0.5) inside the bounding box;
        # coordinates are clamped first so that far-off (or non-finite,
        # invalid) corners convert to int safely.
        bound = max(width, height) + 1.0
        lo_u, hi_u = _safe_range(tu.amin(0), tu.amax(0), bound)
        lo_v, hi_v = _safe_range(tv.amin(0), tv.amax(0), bound)
        j0 = torch.ceil(lo_u - 0.5).clamp_(min=0).to(torch.int32)
        i0 = torch.ceil(lo_v - 0.5).clamp_(min=0).to(torch.int32)
        j1 = torch.floor(hi_u - 0.5).clamp_(max=width - 1).to(torch.int32)
        i1 = torch.floor(hi_v - 0.5).clamp_(max=height - 1).to(torch.int32)
        box_w = (j1 - j0 + 1).clamp_(min=0)
        count = box_w * (i1 - i0 + 1).clamp_(min=0)
        # Near plane (False for NaN too).
        hit = (count > 0) & (tz.amin(0) > self.near)
        keep = hit.nonzero().squeeze(1)
        if keep.numel() == 0:
            return

        # Edge vectors and twice the signed area of the remaining faces;
        # degenerate ones (also NaN areas) are dropped.
        ku, kv = tu.index_select(1, keep), tv.index_select(1, keep)
        e1u, e1v = ku[1] - ku[0], kv[1] - kv[0]
        e2u, e2v = ku[2] - ku[0], kv[2] - kv[0]
        area2 = e1u * e2v - e1v * e2u
        ok = (area2.abs() > 1e-10).nonzero().squeeze(1)
        if ok.numel() == 0:
            return
        if ok.numel() < keep.numel():
            keep, area2 = keep.index_select(0, ok), area2.index_select(0, ok)
            ku, kv = ku.index_select(1, ok), kv.index_select(1, ok)
            e1u, e1v, e2u, e2v = (
                e.index_select(0, ok) for e in (e1u, e1v, e2u, e2v))

        # Edge coefficients: w1 = a1*dx + b1*dy, w2 = a2*dx + b2*dy with
        # (dx, dy) = pixel centre - vertex 0, both divided by twice the
        # signed area (so the test is the same for either winding).
        inv_area = 1.0 / area2
        rows = [
            ku[0],
            kv[0],
            e2v * inv_area,
            -e2u * inv_area,  # w1
            -e1v * inv_area,
            e1u * inv_area
        ]  # w2
        if need_bary:
            inv_z = 1.0 / tz.index_select(1, keep)  # (3, K)
            rows += [inv_z[0], inv_z[1] - inv_z[0], inv_z[2] - inv_z[0]]
        coef = torch.stack(rows, 0)  # (6 or 9, K)
        # Integer table: first pixel index of the box, box width, face, box
        # corner column and row.
        b_of = torch.div(keep, num_faces, rounding_mode='floor')
        face_of = keep - b_of * num_faces
        j0k = j0.index_select(0, keep).to(torch.int64)
        i0k = i0.index_select(0, keep).to(torch.int64)
        first = b_of * (height * width) + i0k * width + j0k
        ints = torch.stack([
            first,
            box_w.index_select(0, keep).to(torch.int64), face_of, j0k, i0k
        ], 0)  # (5, K)
        count = count.index_select(0, keep).to(torch.int64)

        # Chunks of whole faces holding at most ``max_candidates`` pairs.
        ends = torch.cumsum(count, 0)
        total = int(ends[-1])
        num_chunks = max(1, math.ceil(total / self.max_candidates))
        if num_chunks == 1:
            bounds = [0, keep.numel()]
        else:
            marks = torch.arange(
                1, num_chunks, device=ends.device,
                dtype=torch.int64) * self.max_candidates
            cuts = torch.searchsorted(ends, marks, right=True).tolist()
            bounds = sorted(set([0] + cuts + [keep.numel()]))
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if stop <= start:
                continue
            yield self._test_chunk(coef[:, start:stop], ints[:, start:stop],
                                   count[start:stop], need_bary)

    def _test_chunk(self, coef: Tensor, ints: Tensor, count: Tensor,
                    need_bary: bool):
        """Expand a chunk of faces to candidate pixels and keep those inside.

        ``coef`` (Tensor[6 or 9, K]) and ``ints`` (Tensor[5, K]) are the
        planar per-face tables of :meth:`_covered_pairs`.
        """
        device = count.device
        num = int(count.sum())
        owner = torch.repeat_interleave(
            torch.arange(count.numel(), device=device), count, output_size=num)
        start = torch.cumsum(count, 0) - count
        local = torch.arange(num, device=device) - start.index_select(0, owner)
        first, box_w, face, j0, i0 = ints.index_select(1, owner).unbind(0)
        row = torch.div(local, box_w, rounding_mode='floor')
        col = local - row * box_w
        c = coef[:6].index_select(1, owner)
        # Pixel centre relative to vertex 0 (pixel ids -> image coordinates).
        dx = (j0 + col).to(c.dtype) + 0.5 - c[0]
        dy = (i0 + row).to(c.dtype) + 0.5 - c[1]
        w1 = c[2] * dx + c[3] * dy
        w2 = c[4] * dx + c[5] * dy
        inside = (w1 >= -EDGE_TOLERANCE) & (w2 >= -EDGE_TOLERANCE) & (
            w1 + w2 <= 1.0 + EDGE_TOLERANCE)
        idx = inside.nonzero().squeeze(1)
        pix = (first + row * self.width + col).index_select(0, idx)
        face = face.index_select(0, idx)
        if not need_bary:
            return pix, face, None, None
        w1, w2 = w1.index_select(0, idx), w2.index_select(0, idx)
        cz = coef[6:].index_select(1, owner.index_select(0, idx))
        inv_z = cz[0] + w1 * cz[1] + w2 * cz[2]
        return pix, face, (w1, w2), inv_z


def _safe_range(lo: Tensor, hi: Tensor, bound: float) -> Tuple[Tensor, Tensor]:
    """Clamp box bounds to ``[-1, bound]``; NaN gives an empty range."""
    lo = torch.nan_to_num(lo, nan=bound).clamp_(-1.0, bound)
    hi = torch.nan_to_num(hi, nan=-1.0).clamp_(-1.0, bound)
    return lo, hi


def _screen_barycentrics(uv: Tensor, xy: Tensor) -> Tuple[Tensor, Tensor]:
    """Screen-space ``(w1, w2)`` of points ``xy`` (Tensor[P, 2]) in
    triangles ``uv`` (Tensor[P, 3, 2]); ``w0 = 1 - w1 - w2``."""
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    d = xy - uv[:, 0]
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    w1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / area2
    w2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / area2
    return w1, w2
