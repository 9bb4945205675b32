"""Silhouette ground truth of the imagined view ``phi`` (DESIGN §2, §3).

The silhouette head of ImpHMR is supervised with the GT SMPL mesh seen from
view ``phi``: the canonical camera sees view ``phi`` of a point ``p`` at
``R_y(-phi) p`` (``utils.geometry``), so the mesh is turned about its pelvis by
``R_y(-phi)`` and rendered with the photo's own camera.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from mmhuman_imphmr.utils.constants import CROP_SIZE, FOCAL_LENGTH
from mmhuman_imphmr.utils.geometry import rotate_joints_to_view
from .mesh_rasterizer import MeshRasterizer

# Rasterizers are stateless; keep one per camera so repeated calls in a
# training loop do not rebuild them.
_CACHE: Dict[Tuple[int, float], MeshRasterizer] = {}


def _rasterizer(image_size: int, focal_length: float) -> MeshRasterizer:
    key = (int(image_size), float(focal_length))
    if key not in _CACHE:
        _CACHE[key] = MeshRasterizer(
            image_size=image_size, focal_length=focal_length)
    return _CACHE[key]


@torch.no_grad()
def render_view_silhouettes(vertices: Tensor,
                            faces: Tensor,
                            pelvis: Tensor,
                            phi: Tensor,
                            translation: Tensor,
                            image_size: int = 128,
                            focal_length: float = FOCAL_LENGTH,
                            crop_size: int = CROP_SIZE,
                            rasterizer: Optional[MeshRasterizer] = None
                            ) -> Tensor:
    """Binary silhouettes of the body mesh seen from views ``phi``.

    ``R_y(-phi) (v - pelvis) + pelvis + translation``, rasterized with SPIN's
    camera (principal point at the centre) scaled from the ``crop_size`` crop
    to ``image_size``: focal ``focal_length * image_size / crop_size``.

    Args:
        vertices (Tensor[B, V, 3]): Body-model vertices (SPIN's camera-aligned
            frame, before the camera translation).
        faces (Tensor[F, 3]): Mesh faces (e.g. ``smpl.faces_tensor``).
        pelvis (Tensor[B, 3]): Rotation centre, in the frame of ``vertices``.
        phi (Tensor[B]): Azimuth of the view per sample (radians).
        translation (Tensor[B, 3]): Camera translation, e.g.
            ``geometry.weak_perspective_to_translation(cam)``.
        image_size (int): Silhouette side. Defaults to 128.
        focal_length (float): Focal length for the crop. Defaults to 5000.
        crop_size (int): Crop side the focal length refers to. Defaults to 224.
        rasterizer (MeshRasterizer, optional): Another backend with the same
            ``silhouette`` method (its own camera is then used as given).

    Returns:
        Tensor[B, H, W]: 0/1 silhouettes, ``H = W = image_size``.
    """
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f'render_view_silhouettes: vertices must be '
                         f'Tensor[B, V, 3], found {tuple(vertices.shape)}')
    batch = vertices.shape[0]
    phi = torch.as_tensor(phi, dtype=vertices.dtype, device=vertices.device)
    phi = phi.expand(batch) if phi.dim() == 0 else phi
    for name, value, shape in (('pelvis', pelvis, (batch, 3)), ('phi', phi,
                                                                (batch, )),
                               ('translation', translation, (batch, 3))):
        if tuple(value.shape) != shape:
            raise ValueError(f'render_view_silhouettes: {name} must have '
                             f'shape {shape}, found {tuple(value.shape)}')
    turned = rotate_joints_to_view(vertices, phi, pelvis)  # (B, V, 3)
    cam_vertices = turned + translation.unsqueeze(1).to(turned)
    if rasterizer is None:
        rasterizer = _rasterizer(image_size,
                                 focal_length * image_size / crop_size)
    return rasterizer.silhouette(cam_vertices, faces)
