"""Mesh overlays and the "imagined views" strip, through MMEngine's backends.

Cameras (SPIN, DESIGN §4): a prediction ``(s, tx, ty)`` of a crop of side
``crop_size`` (224) with focal ``f`` (5000) is the translation
``(tx, ty, 2 f / (crop_size s))``. The same pinhole seen in a crop of ``S``
pixels has focal ``f S / crop_size``; in the full image, where the crop is a
square of side ``scale`` pixels around ``center``, it has focal
``f scale / crop_size`` and principal point ``center``. Image coordinates
follow mmpose (pixel centres at integers), the rasterizer samples pixel
centres at ``j + 0.5``, hence the ``+ 0.5`` on principal points below.
"""
import importlib.util
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.visualization import Visualizer
from torch import Tensor

from mmhuman_imphmr.registry import VISUALIZERS
from mmhuman_imphmr.renderer import MeshRasterizer
from mmhuman_imphmr.utils.constants import CROP_SIZE, FOCAL_LENGTH
from mmhuman_imphmr.utils.geometry import (rotate_joints_to_view,
                                           weak_perspective_to_translation)
from .body_part_colors import body_part_colors, uniform_colors

# Light travelling forward and slightly down/right in the camera frame, so
# the top of the body is lit as under a ceiling light.
LIGHT_DIRECTION = (0.25, 0.45, 1.0)


def default_vis_backends() -> List[dict]:
    """LocalVisBackend, plus TensorboardVisBackend when tensorboard exists."""
    backends = [dict(type='LocalVisBackend')]
    if importlib.util.find_spec('tensorboard') is not None:
        backends.append(dict(type='TensorboardVisBackend'))
    return backends


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


@VISUALIZERS.register_module()
class MeshVisualizer(Visualizer):
    """Draws predicted SMPL meshes over crops and images.

    Images are RGB ``uint8`` arrays ``ndarray[H, W, 3]`` (MMEngine's
    convention); :meth:`add_datasample` writes through the vis backends.

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        image (ndarray, optional): Initial image.
        vis_backends (list[dict], optional): Defaults to
            :func:`default_vis_backends` (local files, plus TensorBoard when
            installed) when ``save_dir`` is given, else none (drawing only,
            as in the demo).
        save_dir (str, optional): Root of the backends' files.
        faces (Tensor[F, 3] | ndarray, optional): Mesh faces (can be set
            later with :meth:`set_body_model`).
        lbs_weights (Tensor[V, 24], optional): Skinning weights, to colour
            the body parts; a single colour is used without them.
        focal_length (float): SPIN's focal for ``crop_size``. Default 5000.
        crop_size (int): Crop side of the camera model. Default 224.
        alpha (float): Opacity of the mesh over a photo. Default 0.85.
        view_size (int): Side of each panel of the views strip. Default 224.

    Note:
        V: 6890 vertices, F: faces, A: azimuths of the views strip.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 faces: Union[Tensor, np.ndarray, None] = None,
                 lbs_weights: Optional[Tensor] = None,
                 focal_length: float = FOCAL_LENGTH,
                 crop_size: int = CROP_SIZE,
                 alpha: float = 0.85,
                 view_size: int = 224,
                 **kwargs) -> None:
        if vis_backends is None and save_dir is not None:
            vis_backends = default_vis_backends()
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            **kwargs)
        self.focal_length = float(focal_length)
        self.crop_size = int(crop_size)
        self.alpha = float(alpha)
        self.view_size = int(view_size)
        self.faces: Optional[Tensor] = None
        self.vertex_colors: Optional[Tensor] = None
        if faces is not None:
            self.set_body_model(faces, lbs_weights)

    def set_body_model(self,
                       faces: Union[Tensor, np.ndarray],
                       lbs_weights: Optional[Tensor] = None) -> None:
        """Set the faces (``Tensor[F, 3]``) and, optionally, part colours."""
        self.faces = torch.as_tensor(
            np.asarray(_to_numpy(faces)), dtype=torch.long)
        self.vertex_colors = (None if lbs_weights is None else
                              body_part_colors(lbs_weights.detach().cpu()))

    # ------------------------------------------------------------------
    # Rendering primitives

    def _colors(self, num_vertices: int) -> Tensor:
        if (self.vertex_colors is not None
                and self.vertex_colors.shape[0] == num_vertices):
            return self.vertex_colors
        return uniform_colors(num_vertices)

    def render_mesh(self,
                    vertices: Tensor,
                    image_size: Sequence[int],
                    focal_length: float,
                    principal_point: Sequence[float],
                    background: Optional[np.ndarray] = None,
                    alpha: float = 1.0) -> Dict[str, np.ndarray]:
        """Render camera-frame vertices over ``background``.

        Args:
            vertices (Tensor[V, 3]): Camera-frame vertices (z forward).
            image_size (tuple[int, int]): ``(H, W)``.
            focal_length (float): Pixels.
            principal_point (tuple[float, float]): ``(c_x, c_y)`` in the
                rasterizer's pixel convention (centres at ``j + 0.5``).
            background (ndarray[H, W, 3], optional): RGB uint8; white
                when omitted.
            alpha (float): Opacity of the mesh. Defaults to 1.

        Returns:
            dict: ``image`` ndarray[H, W, 3] RGB uint8 and ``mask``
            ndarray[H, W] bool.
        """
        if self.faces is None:
            raise RuntimeError('MeshVisualizer: call set_body_model(faces) '
                               'before rendering')
        height, width = (int(s) for s in image_size)
        if background is None:
            background = np.full((height, width, 3), 255, np.uint8)
        if background.shape[:2] != (height, width):
            raise ValueError(f'MeshVisualizer: background is '
                             f'{background.shape[:2]}, expected '
                             f'{(height, width)}')
        verts = torch.as_tensor(
            _to_numpy(vertices), dtype=torch.float32).unsqueeze(0)
        rasterizer = MeshRasterizer(
            image_size=(height, width),
            focal_length=focal_length,
            principal_point=principal_point)
        out = rasterizer.render(
            verts,
            self.faces,
            self._colors(verts.shape[1]),
            light_direction=LIGHT_DIRECTION,
            ambient=0.45)
        rgb = out['image'][0].numpy() * 255.0
        mask = out['mask'][0].numpy()[..., None] * float(alpha)
        image = background.astype(np.float32) * (1.0 - mask) + rgb * mask
        return dict(
            image=np.clip(image + 0.5, 0, 255).astype(np.uint8),
            mask=out['mask'][0].numpy() > 0)

    def draw_mesh_on_crop(self,
                          crop: np.ndarray,
                          vertices: Tensor,
                          cam: Tensor,
                          alpha: Optional[float] = None) -> np.ndarray:
        """The mesh with its weak-perspective camera over its own crop.

        Args:
            crop (ndarray[S, S', 3]): RGB uint8 crop the model saw.
            vertices (Tensor[V, 3]): Body-model vertices (before the camera).
            cam (Tensor[3]): ``(s, tx, ty)``.
            alpha (float, optional): Defaults to ``self.alpha``.

        Returns:
            ndarray[S, S', 3]: RGB uint8.
        """
        height, width = crop.shape[:2]
        transl = weak_perspective_to_translation(
            torch.as_tensor(_to_numpy(cam), dtype=torch.float32),
            self.focal_length, self.crop_size)
        verts = torch.as_tensor(
            _to_numpy(vertices), dtype=torch.float32) + transl
        return self.render_mesh(
            verts, (height, width),
            self.focal_length * width / self.crop_size,
            (width / 2.0 + 0.5, height / 2.0 + 0.5),
            background=crop,
            alpha=self.alpha if alpha is None else alpha)['image']

    def draw_mesh_on_image(self,
                           image: np.ndarray,
                           vertices: Tensor,
                           cam: Tensor,
                           bbox_center: Sequence[float],
                           bbox_scale: Union[float, Sequence[float]],
                           alpha: Optional[float] = None) -> np.ndarray:
        """The mesh placed back in the full image through the crop transform.

        Args:
            image (ndarray[H, W, 3]): RGB uint8 full image.
            vertices (Tensor[V, 3]): Body-model vertices.
            cam (Tensor[3]): ``(s, tx, ty)`` predicted for the crop.
            bbox_center (tuple[float, float]): Crop centre in image pixels.
            bbox_scale (float | tuple[float, float]): Crop side(s) in image
                pixels (mmpose's ``bbox_scale`` after ``TopdownAffine``).
            alpha (float, optional): Defaults to ``self.alpha``.

        Returns:
            ndarray[H, W, 3]: RGB uint8.
        """
        scale = float(np.asarray(bbox_scale, np.float32).reshape(-1)[0])
        cx, cy = (float(c) for c in np.asarray(bbox_center).reshape(-1)[:2])
        transl = weak_perspective_to_translation(
            torch.as_tensor(_to_numpy(cam), dtype=torch.float32),
            self.focal_length, self.crop_size)
        verts = torch.as_tensor(
            _to_numpy(vertices), dtype=torch.float32) + transl
        return self.render_mesh(
            verts,
            image.shape[:2],
            self.focal_length * scale / self.crop_size, (cx + 0.5, cy + 0.5),
            background=image,
            alpha=self.alpha if alpha is None else alpha)['image']

    def draw_turned_mesh(self,
                         vertices: Tensor,
                         cam: Tensor,
                         phi_deg: float,
                         size: Optional[int] = None) -> np.ndarray:
        """The mesh turned by ``phi`` about its centre, on white.

        Uses the view rotation of DESIGN §3 (``R_y(-phi)`` about the
        vertices' centroid), so ``phi = 90`` shows the body as the camera of
        view 90 degrees would.
        """
        size = self.view_size if size is None else size
        verts = torch.as_tensor(_to_numpy(vertices), dtype=torch.float32)
        centre = verts.mean(0)
        turned = rotate_joints_to_view(verts, np.deg2rad(phi_deg), centre)
        blank = np.full((size, size, 3), 255, np.uint8)
        return self.draw_mesh_on_crop(blank, turned, cam, alpha=1.0)

    def draw_imagined_views(self,
                            crop: np.ndarray,
                            vertices: Tensor,
                            cams: Tensor,
                            phis_deg: Sequence[float],
                            silhouettes: Optional[Tensor] = None
                            ) -> np.ndarray:
        """The model's own predictions at several azimuths (paper Fig. 7).

        Top row: the input crop, then the mesh predicted at each ``phi``
        (rendered with the camera predicted for that view). Bottom row: the
        canonical prediction over the crop, then the silhouette head's
        output at each ``phi`` (probabilities, white = body), if given.

        Args:
            crop (ndarray[S, S', 3]): RGB uint8 input crop.
            vertices (Tensor[A, V, 3]): Mesh predicted at each azimuth.
            cams (Tensor[A, 3]): Camera predicted at each azimuth.
            phis_deg (Sequence[float]): The ``A`` azimuths, degrees.
            silhouettes (Tensor[A, h, w], optional): Probabilities in [0, 1].

        Returns:
            ndarray[R * P, (A + 1) * P, 3]: RGB uint8 strip, ``P =
            view_size``, ``R`` = 2 rows with silhouettes, else 1.
        """
        num = len(phis_deg)
        if vertices.shape[0] != num or cams.shape[0] != num:
            raise ValueError(f'draw_imagined_views: {num} azimuths but '
                             f'vertices {tuple(vertices.shape)} and cams '
                             f'{tuple(cams.shape)}')
        size = self.view_size
        crop_p = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        top = [crop_p]
        for a in range(num):
            blank = np.full((size, size, 3), 255, np.uint8)
            panel = self.draw_mesh_on_crop(
                blank, vertices[a], cams[a], alpha=1.0)
            top.append(_label(panel, f'phi = {phis_deg[a]:g} deg'))
        rows = [np.concatenate(top, axis=1)]
        if silhouettes is not None:
            # The first azimuth is the canonical view when phis start at 0.
            canon = self.draw_mesh_on_crop(crop_p, vertices[0], cams[0])
            bottom = [_label(canon, f'phi = {phis_deg[0]:g} overlay')]
            for a in range(num):
                prob = np.clip(_to_numpy(silhouettes[a]), 0.0, 1.0)
                gray = cv2.resize(
                    (prob * 255).astype(np.uint8), (size, size),
                    interpolation=cv2.INTER_LINEAR)
                panel = np.repeat(gray[..., None], 3, axis=2)
                bottom.append(_label(panel, 'silhouette head'))
            rows.append(np.concatenate(bottom, axis=1))
        return np.concatenate(rows, axis=0)

    # ------------------------------------------------------------------
    # MMEngine interface

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       side_view_deg: float = 90.0) -> np.ndarray:
        """Draw one crop and its prediction; send it to the backends.

        Panels: the crop with the GT 2D keypoints (``draw_gt``, green dots
        where confidence > 0), the predicted mesh over the crop, and the
        predicted mesh turned by ``side_view_deg`` (``draw_pred``).

        Args:
            name (str): Image identifier for the backends.
            image (ndarray[S, S', 3]): RGB uint8 crop the model saw.
            data_sample (MeshDataSample): With ``pred_vertices`` and
                ``pred_cam`` (and optionally ``gt_keypoints2d``).
            out_file (str, optional): Also write the drawing there (BGR PNG).
            step (int): Global step for the backends.

        Returns:
            ndarray: The RGB uint8 drawing.
        """
        panels = [image.copy()]
        if draw_gt and data_sample is not None and 'gt_keypoints2d' in \
                data_sample:
            panels[0] = _draw_keypoints(panels[0],
                                        _to_numpy(data_sample.gt_keypoints2d))
        if draw_pred and data_sample is not None:
            for key in ('pred_vertices', 'pred_cam'):
                if key not in data_sample:
                    raise KeyError(f'MeshVisualizer.add_datasample: the data '
                                   f'sample has no "{key}"; found '
                                   f'{sorted(data_sample.keys())}')
            verts, cam = data_sample.pred_vertices, data_sample.pred_cam
            panels.append(self.draw_mesh_on_crop(image, verts, cam))
            side = self.draw_turned_mesh(
                verts, cam, side_view_deg, size=image.shape[0])
            panels.append(cv2.resize(side, image.shape[1::-1]))
        drawn = np.concatenate(panels, axis=1)
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            cv2.imwrite(out_file, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
        else:
            self.add_image(name, drawn, step)
        return drawn


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of an RGB uint8 panel."""
    panel = panel.copy()
    scale = max(0.35, panel.shape[0] / 500.0)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    # A light box behind the text keeps it readable on dark panels.
    box = panel[:h + base + 6, :w + 8].astype(np.float32)
    panel[:h + base + 6, :w + 8] = (box * 0.3 + 255 * 0.7).astype(np.uint8)
    cv2.putText(panel, text, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (20, 20, 20), 1, cv2.LINE_AA)
    return panel


def _draw_keypoints(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Dots at ``[-1, 1]`` crop keypoints ``ndarray[K, 3]`` with conf > 0."""
    image = image.copy()
    height, width = image.shape[:2]
    radius = max(1, width // 100)
    for x, y, conf in keypoints:
        if conf <= 0:
            continue
        u, v = (x + 1.0) * width / 2.0, (y + 1.0) * height / 2.0
        cv2.circle(image, (int(round(u)), int(round(v))), radius,
                   (40, 200, 40), -1, cv2.LINE_AA)
    return image
