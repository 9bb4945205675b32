"""Rotation, camera and view-rotation helpers, shared by every component.

Conventions (DESIGN §3, §4):

* 6D rotation is SPIN's: the 6-vector is reshaped to ``(3, 2)``, its two
  columns are Gram-Schmidt orthonormalised and ``b1, b2, b1 x b2`` are stacked
  as the **columns** of the matrix. SPIN's released regressor weights only make
  sense with this convention.
* Axis-angle <-> matrix conversions are delegated to ``roma`` (a maintained
  rotation library) rather than written by hand.
* Camera frame is OpenCV's: x right, y down, z forward. The canonical view
  ``phi = 0`` is the photo's camera. The camera of view ``phi`` sits at
  ``R_y(phi) @ (0, 0, -r)`` with axes ``R_y(phi)`` (columns) and looks at the
  origin, so it sees a point ``p`` where the canonical camera would see
  ``R_y(-phi) @ p``. Hence the ground truth of view ``phi`` rotates the 3D
  joints about the pelvis and the global orientation by ``R_y(-phi)``;
  body pose and betas do not change. Every module that renders, rotates GT or
  compares views imports these helpers; none re-derives them.

Note:
    Shapes use ``...`` for any leading batch dimensions.
"""
from typing import Optional, Union

import roma
import torch
import torch.nn.functional as F

from .constants import CROP_SIZE, FOCAL_LENGTH

Angle = Union[float, torch.Tensor]

# --------------------------------------------------------------------------
# 6D and axis-angle


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """SPIN's 6D representation to rotation matrices.

    Args:
        x (Tensor[..., 6]): Rows of the ``(3, 2)`` matrix, flattened
            (i.e. ``x.view(..., 3, 2)`` gives the two columns ``a1, a2``).

    Returns:
        Tensor[..., 3, 3]: Rotation matrices with columns ``b1, b2, b3``.
    """
    if x.shape[-1] != 6:
        raise ValueError(f'rot6d_to_rotmat expects a last dimension of 6, '
                         f'found shape {tuple(x.shape)}')
    mat = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = mat[..., 0], mat[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to SPIN's 6D representation (first two columns).

    Args:
        rotmat (Tensor[..., 3, 3]): Rotation matrices.

    Returns:
        Tensor[..., 6]: ``rotmat[..., :, :2]`` flattened row-major.
    """
    return rotmat[..., :, :2].reshape(*rotmat.shape[:-2], 6)


def axis_angle_to_rotmat(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors ``Tensor[..., 3]`` to ``Tensor[..., 3, 3]``, roma."""
    return roma.rotvec_to_rotmat(axis_angle)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``Tensor[..., 3, 3]`` to axis-angle (roma)."""
    return roma.rotmat_to_rotvec(rotmat)


# --------------------------------------------------------------------------
# Rotations about the camera axes


def _as_tensor(angle: Angle, like: Optional[torch.Tensor]) -> torch.Tensor:
    if isinstance(angle, torch.Tensor):
        return angle
    if like is not None:
        return torch.as_tensor(angle, dtype=like.dtype, device=like.device)
    return torch.as_tensor(angle, dtype=torch.float32)


def rotation_y(phi: Angle,
               like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``R_y(phi) = [[c, 0, s], [0, 1, 0], [-s, 0, c]]``.

    Args:
        phi (float | Tensor[...]): Azimuth in radians.
        like (Tensor, optional): Gives dtype/device when ``phi`` is a float.

    Returns:
        Tensor[..., 3, 3]
    """
    phi = _as_tensor(phi, like)
    c, s = torch.cos(phi), torch.sin(phi)
    zero, one = torch.zeros_like(phi), torch.ones_like(phi)
    return torch.stack([
        torch.stack([c, zero, s], -1),
        torch.stack([zero, one, zero], -1),
        torch.stack([-s, zero, c], -1),
    ], -2)


def rotation_z(angle: Angle,
               like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``R_z(a) = [[c, -s, 0], [s, c, 0], [0, 0, 1]]`` (in-plane rotation).

    With the OpenCV camera (y down) a positive angle turns the image content
    clockwise as seen on screen.
    """
    angle = _as_tensor(angle, like)
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([
        torch.stack([c, -s, zero], -1),
        torch.stack([s, c, zero], -1),
        torch.stack([zero, zero, one], -1),
    ], -2)


# --------------------------------------------------------------------------
# The view rotation of the paper (DESIGN §3)


def view_rotation(phi: Angle,
                  like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The rotation that takes canonical-view quantities to view ``phi``.

    It is ``R_y(-phi)``: the camera of view ``phi`` sees a point ``p`` where
    the canonical camera sees ``R_y(-phi) @ p``.

    Returns:
        Tensor[..., 3, 3]
    """
    phi = _as_tensor(phi, like)
    return rotation_y(-phi)


def camera_pose_for_view(phi: Angle,
                         radius: float,
                         like: Optional[torch.Tensor] = None):
    """Camera of view ``phi``: centre ``R_y(phi) @ (0, 0, -radius)``, axes
    ``R_y(phi)`` (its columns are the camera's x, y, z in the field frame).

    Returns:
        tuple: ``(origin Tensor[..., 3], axes Tensor[..., 3, 3])``.
    """
    axes = rotation_y(phi, like)
    origin = -radius * axes[..., :, 2]
    return origin, axes


def rotate_joints_to_view(joints: torch.Tensor,
                          phi: Angle,
                          pelvis: Optional[torch.Tensor] = None
                          ) -> torch.Tensor:
    """Ground-truth 3D joints seen from view ``phi``.

    ``R_y(-phi) (J - pelvis) + pelvis``, i.e. the body turns about a vertical
    axis through its pelvis and stays where it was.

    Args:
        joints (Tensor[..., J, C]): 3D joints; ``C`` is 3, or 4 with a
            confidence column that is carried along unchanged.
        phi (float | Tensor[...]): Azimuth per sample (radians).
        pelvis (Tensor[..., 3], optional): Rotation centre. Defaults to the
            origin (joints that are already pelvis-centred).

    Returns:
        Tensor[..., J, C]
    """
    xyz = joints[..., :3]
    rot = view_rotation(phi, xyz)  # (..., 3, 3)
    if pelvis is None:
        pelvis = torch.zeros_like(xyz[..., 0, :])
    centred = xyz - pelvis.unsqueeze(-2)
    rotated = centred @ rot.transpose(-1, -2) + pelvis.unsqueeze(-2)
    if joints.shape[-1] > 3:
        rotated = torch.cat([rotated, joints[..., 3:]], dim=-1)
    return rotated


def rotate_global_orient_to_view(global_orient: torch.Tensor,
                                 phi: Angle) -> torch.Tensor:
    """Global orientation seen from view ``phi``: ``R_y(-phi) @ R_root``.

    Args:
        global_orient (Tensor[..., 3, 3]): Root rotation matrices.
        phi (float | Tensor[...]): Azimuth per sample (radians).

    Returns:
        Tensor[..., 3, 3]
    """
    return view_rotation(phi, global_orient) @ global_orient


# --------------------------------------------------------------------------
# SPIN's weak-perspective camera


def weak_perspective_to_translation(cam: torch.Tensor,
                                    focal_length: float = FOCAL_LENGTH,
                                    crop_size: int = CROP_SIZE,
                                    eps: float = 1e-9) -> torch.Tensor:
    """``(s, tx, ty)`` to the perspective translation ``(tx, ty, 2f/(res s))``.

    Args:
        cam (Tensor[..., 3]): Weak-perspective camera.
        focal_length (float): Focal length in pixels. Defaults to 5000.
        crop_size (int): Crop side in pixels. Defaults to 224.

    Returns:
        Tensor[..., 3]
    """
    s, tx, ty = cam[..., 0], cam[..., 1], cam[..., 2]
    tz = 2 * focal_length / (crop_size * s + eps)
    return torch.stack([tx, ty, tz], dim=-1)


def perspective_projection(points: torch.Tensor,
                           translation: torch.Tensor,
                           focal_length: float = FOCAL_LENGTH,
                           crop_size: int = CROP_SIZE,
                           normalize: bool = True) -> torch.Tensor:
    """Project camera-frame points with a pinhole camera at the crop centre.

    Args:
        points (Tensor[B, N, 3]): Points (model frame, camera rotation is
            identity as in SPIN).
        translation (Tensor[B, 3]): Camera translation added to every point.
        focal_length (float): Pixels. Defaults to 5000.
        crop_size (int): Crop side in pixels. Defaults to 224.
        normalize (bool): Return keypoints in ``[-1, 1]`` crop coordinates
            (SPIN's training convention) instead of pixels. Defaults to True.

    Returns:
        Tensor[B, N, 2]
    """
    cam_points = points + translation.unsqueeze(-2)
    depth = cam_points[..., 2:3].clamp(min=1e-6)
    uv = focal_length * cam_points[..., :2] / depth
    if normalize:
        return uv / (crop_size / 2.0)
    return uv + crop_size / 2.0
