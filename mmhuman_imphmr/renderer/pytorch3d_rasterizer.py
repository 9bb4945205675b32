"""Optional pytorch3d backend with the interface of :class:`MeshRasterizer`.

pytorch3d has no Linux distribution on PyPI, so this backend is never the
default and cannot be tested on the project's machines; where pytorch3d is
installed (built from source) it can be chosen in a config with
``dict(type='PyTorch3DRasterizer', ...)``. Only the rasterization step is
delegated; shading is the built-in one, so both backends render alike.
"""
from typing import Dict, Optional, Sequence, Union

import torch
from torch import Tensor

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import CROP_SIZE, FOCAL_LENGTH
from .mesh_rasterizer import MeshRasterizer

try:
    import pytorch3d  # noqa: F401
    HAS_PYTORCH3D = True
except ImportError:  # the usual case: no wheel on PyPI
    HAS_PYTORCH3D = False


@MODELS.register_module()
class PyTorch3DRasterizer(MeshRasterizer):
    """:class:`MeshRasterizer` whose ``rasterize`` runs pytorch3d's kernels.

    Same arguments and camera conventions (OpenCV pinhole, pixel centres at
    ``j + 0.5``); the OpenCV camera is converted with
    ``pytorch3d.utils.cameras_from_opencv_projection``. ``near`` is passed as
    pytorch3d's ``z_clip_value`` (pytorch3d clips instead of dropping).

    Args:
        image_size, focal_length, principal_point, near: as for
            :class:`MeshRasterizer`.
        bin_size (int, optional): pytorch3d's coarse-to-fine bin size
            (None: its heuristic). Defaults to None.

    Raises:
        ImportError: when pytorch3d is not installed.
    """

    def __init__(self,
                 image_size: Union[int, Sequence[int]] = 128,
                 focal_length: Union[float, Sequence[float]] = FOCAL_LENGTH *
                 128 / CROP_SIZE,
                 principal_point: Optional[Sequence[float]] = None,
                 near: float = 1e-2,
                 bin_size: Optional[int] = None) -> None:
        if not HAS_PYTORCH3D:
            raise ImportError(
                'PyTorch3DRasterizer needs pytorch3d, which has no PyPI wheel '
                'for Linux: build it from source '
                '(https://github.com/facebookresearch/pytorch3d/blob/main/'
                "INSTALL.md) or use type='MeshRasterizer' (the default).")
        super().__init__(
            image_size=image_size,
            focal_length=focal_length,
            principal_point=principal_point,
            near=near)
        self.bin_size = bin_size

    @torch.no_grad()
    def silhouette(self, vertices: Tensor, faces: Tensor) -> Tensor:
        """See :meth:`MeshRasterizer.silhouette`."""
        face_index = self.rasterize(vertices, faces)['face_index']
        return (face_index >= 0).to(vertices.dtype)

    @torch.no_grad()
    def rasterize(self, vertices: Tensor, faces: Tensor) -> Dict[str, Tensor]:
        """See :meth:`MeshRasterizer.rasterize` (same outputs)."""
        from pytorch3d.renderer import MeshRasterizer as P3DRasterizer
        from pytorch3d.renderer import RasterizationSettings
        from pytorch3d.structures import Meshes
        from pytorch3d.utils import cameras_from_opencv_projection

        vertices, faces = self._check_inputs(vertices, faces)
        batch, num_faces = vertices.shape[0], faces.shape[0]
        device, dtype = vertices.device, vertices.dtype
        eye = torch.eye(3, dtype=dtype, device=device).expand(batch, 3, 3)
        camera_matrix = torch.tensor([[self.fx, 0.0, self.cx],
                                      [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]
                                      ],
                                     dtype=dtype,
                                     device=device).expand(batch, 3, 3)
        cameras = cameras_from_opencv_projection(
            R=eye,
            tvec=vertices.new_zeros(batch, 3),
            camera_matrix=camera_matrix,
            image_size=torch.tensor([[self.height, self.width]],
                                    device=device).expand(batch, 2))
        settings = RasterizationSettings(
            image_size=(self.height, self.width),
            blur_radius=0.0,
            faces_per_pixel=1,
            bin_size=self.bin_size,
            z_clip_value=self.near,
            perspective_correct=True,
            cull_backfaces=False)
        meshes = Meshes(verts=list(vertices), faces=[faces] * batch)
        fragments = P3DRasterizer(
            cameras=cameras, raster_settings=settings)(
                meshes)
        packed = fragments.pix_to_face[..., 0]  # (B, H, W), b * F + f
        covered = packed >= 0
        face_index = torch.where(covered, packed % max(num_faces, 1),
                                 torch.full_like(packed, -1))
        bary = fragments.bary_coords[..., 0, :] * covered.unsqueeze(-1)
        depth = fragments.zbuf[..., 0].clamp(min=0) * covered
        return dict(
            face_index=face_index, bary=bary.to(dtype), depth=depth.to(dtype))
