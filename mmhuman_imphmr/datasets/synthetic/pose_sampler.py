"""Random plausible SMPL poses and shapes for the embedded synthetic data.

Each body joint gets an independent uniform draw inside a per-joint box of
axis-angle components (a small table of joint limits, below). For the modest
ranges used here the axis-angle components act as rotation angles about the
joint's local axes, which is all a plausibility bound needs. One "activity"
level per body, ``a ~ U[min_activity, 1]``, shrinks every box toward a
relaxed standing pose (:data:`RELAXED_POSE`: arms down, knees and elbows
slightly bent), so calm poses are common and extreme ones still occur.

SMPL's local axes in its rest (T) pose, y up: x points to the body's left,
z to its front. So a knee bends backward with a positive x rotation, a hip
flexes (thigh forward) with a negative x rotation, the left elbow folds the
forearm forward with a negative y rotation (the right one with a positive y)
and the left arm comes down from the T-pose with a negative z rotation at
the shoulder (the right one with a positive z).
"""
from typing import Dict, Tuple

import numpy as np
import torch

from mmhuman_imphmr.utils.constants import NUM_BETAS, SMPL_JOINT_NAMES
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat, rotation_y,
                                           rotmat_to_axis_angle)

# Joint limits in radians: joint name -> ((x_lo, y_lo, z_lo), (x_hi, y_hi,
# z_hi)). Assumption of this project (no source fixes it): ranges chosen by
# eye to look like everyday human poses on the SMPL skeleton.
JOINT_LIMITS: Dict[str,
                   Tuple[Tuple[float, float, float],
                         Tuple[float, float, float]]] = {
                             'left_hip': ((-1.6, -0.4, -0.2), (0.4, 0.5, 0.8)),
                             'right_hip':
                             ((-1.6, -0.5, -0.8), (0.4, 0.4, 0.2)),
                             'spine1': ((-0.25, -0.3, -0.2), (0.35, 0.3, 0.2)),
                             'left_knee':
                             ((0.0, -0.05, -0.05), (2.0, 0.05, 0.05)),
                             'right_knee':
                             ((0.0, -0.05, -0.05), (2.0, 0.05, 0.05)),
                             'spine2':
                             ((-0.15, -0.2, -0.15), (0.2, 0.2, 0.15)),
                             'left_ankle': ((-0.4, -0.2, -0.2), (0.5, 0.2,
                                                                 0.2)),
                             'right_ankle': ((-0.4, -0.2, -0.2), (0.5, 0.2,
                                                                  0.2)),
                             'spine3': ((-0.15, -0.2, -0.15), (0.2, 0.2,
                                                               0.15)),
                             'left_foot': ((-0.2, -0.1, -0.1), (0.2, 0.1,
                                                                0.1)),
                             'right_foot': ((-0.2, -0.1, -0.1), (0.2, 0.1,
                                                                 0.1)),
                             'neck': ((-0.3, -0.5, -0.3), (0.4, 0.5, 0.3)),
                             'left_collar': ((-0.15, -0.2, -0.2), (0.15, 0.2,
                                                                   0.2)),
                             'right_collar': ((-0.15, -0.2, -0.2), (0.15, 0.2,
                                                                    0.2)),
                             'head': ((-0.3, -0.5, -0.3), (0.4, 0.5, 0.3)),
                             'left_shoulder': ((-0.6, -1.3, -1.4), (0.6, 0.6,
                                                                    0.6)),
                             'right_shoulder': ((-0.6, -0.6, -0.6), (0.6, 1.3,
                                                                     1.4)),
                             'left_elbow': ((-0.5, -2.3, -0.1), (0.5, 0.0,
                                                                 0.1)),
                             'right_elbow': ((-0.5, 0.0, -0.1), (0.5, 2.3,
                                                                 0.1)),
                             'left_wrist': ((-0.4, -0.4, -0.4), (0.4, 0.4,
                                                                 0.4)),
                             'right_wrist': ((-0.4, -0.4, -0.4), (0.4, 0.4,
                                                                  0.4)),
                             'left_hand': ((-0.2, -0.2, -0.2), (0.2, 0.2,
                                                                0.2)),
                             'right_hand': ((-0.2, -0.2, -0.2), (0.2, 0.2,
                                                                 0.2)),
                         }
# The pose every box shrinks toward (must lie inside the limits).
RELAXED_POSE: Dict[str, Tuple[float, float, float]] = {
    'left_hip': (-0.1, 0.0, 0.05),
    'right_hip': (-0.1, 0.0, -0.05),
    'left_knee': (0.15, 0.0, 0.0),
    'right_knee': (0.15, 0.0, 0.0),
    'left_shoulder': (0.0, 0.0, -1.1),
    'right_shoulder': (0.0, 0.0, 1.1),
    'left_elbow': (0.0, -0.3, 0.0),
    'right_elbow': (0.0, 0.3, 0.0),
}
_RELAXED = np.array(
    [RELAXED_POSE.get(n, (0.0, 0.0, 0.0)) for n in SMPL_JOINT_NAMES[1:]],
    np.float64)  # (23, 3)
_LOW = np.array([JOINT_LIMITS[n][0] for n in SMPL_JOINT_NAMES[1:]],
                np.float64)  # (23, 3)
_HIGH = np.array([JOINT_LIMITS[n][1] for n in SMPL_JOINT_NAMES[1:]],
                 np.float64)
assert np.all((_LOW <= _RELAXED) & (_RELAXED <= _HIGH)), 'RELAXED_POSE'


def sample_body_pose(rng: np.random.Generator,
                     min_activity: float = 0.2) -> np.ndarray:
    """One body pose inside :data:`JOINT_LIMITS`.

    Args:
        rng (Generator): Random source.
        min_activity (float): Smallest share of the joint ranges a body may
            use (an assumption: 0.2 keeps near-standing poses frequent).

    Returns:
        ndarray[69]: float32 axis-angle of the 23 body joints.
    """
    activity = rng.uniform(min_activity, 1.0)
    low = _RELAXED + activity * (_LOW - _RELAXED)
    high = _RELAXED + activity * (_HIGH - _RELAXED)
    return rng.uniform(low, high).reshape(69).astype(np.float32)


def sample_view_angles(rng: np.random.Generator,
                       max_tilt: float = 0.15) -> Tuple[float, np.ndarray]:
    """The random part of :func:`sample_global_orient`: yaw and lean.

    Returns:
        tuple: ``(yaw float in [0, 2 pi), tilt ndarray[2])``, the lean about
        x and z in ``[-max_tilt, max_tilt]``.
    """
    yaw = float(rng.uniform(0.0, 2 * np.pi))
    tilt = np.array(
        [rng.uniform(-max_tilt, max_tilt),
         rng.uniform(-max_tilt, max_tilt)])
    return yaw, tilt


def global_orient_from_angles(yaw: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """``R = R_x(pi) @ R_tilt @ R_y(yaw)`` as axis-angle, batched.

    Args:
        yaw (ndarray[N]): Turn about the body's vertical axis.
        tilt (ndarray[N, 2]): Lean about x and z (axis-angle components).

    Returns:
        ndarray[N, 3]: float32 axis-angle.
    """
    yaw = torch.as_tensor(np.asarray(yaw, np.float64).reshape(-1))
    tilt = torch.as_tensor(np.asarray(tilt, np.float64).reshape(-1, 2))
    zero = torch.zeros_like(yaw)
    upright = axis_angle_to_rotmat(
        torch.tensor([np.pi, 0.0, 0.0], dtype=torch.float64))
    lean = axis_angle_to_rotmat(
        torch.stack([tilt[:, 0], zero, tilt[:, 1]], -1))
    turn = rotation_y(yaw)
    orient = rotmat_to_axis_angle(upright @ lean @ turn)
    return orient.numpy().astype(np.float32)


def sample_global_orient(rng: np.random.Generator,
                         max_tilt: float = 0.15) -> Tuple[np.ndarray, float]:
    """A root orientation in the OpenCV camera frame, any azimuth.

    ``R = R_x(pi) @ R_tilt @ R_y(yaw)``: a turn about the body's vertical
    axis by ``yaw ~ U[0, 2 pi)``, a small lean (``R_tilt``, rotations about x
    and z of at most ``max_tilt`` radians), then SPIN's upright flip
    ``R_x(pi)`` that takes SMPL's y-up frame to the camera's y-down frame, so
    ``yaw = 0`` faces the camera. (The generator draws the angles with
    :func:`sample_view_angles` and converts a whole batch at once with
    :func:`global_orient_from_angles`; this is the one-body shortcut.)

    Args:
        rng (Generator): Random source.
        max_tilt (float): Largest lean in radians. Defaults to 0.15
            (an assumption: people in photos mostly stand upright).

    Returns:
        tuple: ``(global_orient ndarray[3] float32, yaw float)``.
    """
    yaw, tilt = sample_view_angles(rng, max_tilt)
    return global_orient_from_angles(np.array([yaw]), tilt[None])[0], yaw


def sample_betas(rng: np.random.Generator, clip: float = 2.5) -> np.ndarray:
    """Shape ``beta ~ N(0, 1)`` clipped to ``[-clip, clip]``.

    Args:
        clip (float): Bound of every coefficient. Defaults to 2.5 (inside
            SPIN's |beta| <= 3 filter of pseudo ground truth).

    Returns:
        ndarray[10]: float32.
    """
    return np.clip(rng.standard_normal(NUM_BETAS), -clip,
                   clip).astype(np.float32)
