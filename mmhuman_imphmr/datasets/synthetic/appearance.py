"""Backgrounds and clothing colours of the embedded synthetic images."""
from typing import List

import cv2
import numpy as np

from mmhuman_imphmr.utils.constants import SMPL_JOINT_NAMES

# Body part of each SMPL joint (a vertex belongs to the joint with its
# largest skinning weight): the parts get one colour each per image. The head
# and the torso are split further into front and back (``vertex_parts``):
# a face in skin colour with hair behind it, and a print on the front of the
# top, as people mostly look. Without such cues a symmetric body seen from
# the back looks like its mirror image seen from the front, and under 360
# degree yaw a regressor cannot tell left from right.
PART_NAMES: List[str] = [
    'skin', 'top', 'sleeve', 'bottom', 'shoe', 'hair', 'top_front'
]
_JOINT_PART = {
    'pelvis': 'bottom',
    'left_hip': 'bottom',
    'right_hip': 'bottom',
    'left_knee': 'bottom',
    'right_knee': 'bottom',
    'left_ankle': 'shoe',
    'right_ankle': 'shoe',
    'left_foot': 'shoe',
    'right_foot': 'shoe',
    'spine1': 'top',
    'spine2': 'top',
    'spine3': 'top',
    'left_collar': 'top',
    'right_collar': 'top',
    'left_shoulder': 'top',
    'right_shoulder': 'top',
    'left_elbow': 'sleeve',
    'right_elbow': 'sleeve',
    'neck': 'skin',
    'head': 'hair',
    'left_wrist': 'skin',
    'right_wrist': 'skin',
    'left_hand': 'skin',
    'right_hand': 'skin'
}
JOINT_PART_INDEX = np.array(
    [PART_NAMES.index(_JOINT_PART[name]) for name in SMPL_JOINT_NAMES])

_SKIN_TONES = np.array([[0.98, 0.84, 0.72], [0.90, 0.72, 0.58],
                        [0.76, 0.57, 0.42], [0.55, 0.38, 0.26],
                        [0.36, 0.24, 0.16]])


def vertex_parts(lbs_weights: np.ndarray,
                 rest_vertices: np.ndarray) -> np.ndarray:
    """Part index of every vertex from its dominant skinning joint.

    Head vertices in front of the head's centre (rest pose, SMPL faces +z)
    and below its top become the face ('skin'); the rest of the head is
    'hair'. Torso vertices of the top in front of the torso's mid-plane,
    between the waist and the chest, become 'top_front' (a print).

    Args:
        lbs_weights (ndarray[V, 24]): SMPL skinning weights.
        rest_vertices (ndarray[V, 3]): The template (T-pose, y up, +z front).

    Returns:
        ndarray[V]: index into :data:`PART_NAMES`.
    """
    joint = np.argmax(lbs_weights, axis=1)
    parts = JOINT_PART_INDEX[joint].copy()
    x, y, z = rest_vertices.T
    head = joint == SMPL_JOINT_NAMES.index('head')
    if head.any():
        cz = z[head].mean()
        top = y[head].min() + 0.8 * (y[head].max() - y[head].min())
        parts[head & (z > cz) & (y < top)] = PART_NAMES.index('skin')
    torso = np.isin(
        joint,
        [SMPL_JOINT_NAMES.index(n) for n in ('spine1', 'spine2', 'spine3')])
    if torso.any():
        cz = z[torso].mean()
        cx = x[torso].mean()
        half_width = 0.6 * np.abs(x[torso] - cx).max()
        front = torso & (z > cz + 0.02) & (np.abs(x - cx) < half_width)
        parts[front] = PART_NAMES.index('top_front')
    return parts


def sample_part_colors(rng: np.random.Generator) -> np.ndarray:
    """One palette: a skin tone, clothes colours, hair; RGB in [0, 1].

    Sleeves are either the top's colour (long sleeves) or skin (short).

    Returns:
        ndarray[len(PART_NAMES), 3]: float32.
    """
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.05)
    top = rng.uniform(0.05, 0.95, 3)
    bottom = rng.uniform(0.05, 0.8, 3)
    shoe = rng.uniform(0.0, 0.4) * np.ones(3) + rng.uniform(0, 0.2, 3)
    hair = rng.uniform(0.05, 0.35) * np.array([1.0, 0.8, 0.6])
    sleeve = top if rng.random() < 0.6 else skin
    # A print on the front of the top: a clearly different colour.
    print_ = np.where(top > 0.5, top - rng.uniform(0.35, 0.5, 3),
                      top + rng.uniform(0.35, 0.5, 3))
    colors = np.stack([skin, top, sleeve, bottom, shoe, hair, print_])
    return np.clip(colors, 0.0, 1.0).astype(np.float32)


def vertex_colors(parts: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Per-vertex RGB ``ndarray[V, 3]`` from part indices and a palette."""
    return palette[parts]


def _muted(rng: np.random.Generator, low: float = 0.25) -> np.ndarray:
    """A random RGB colour pulled toward its grey by a random amount."""
    color = rng.uniform(0, 1, 3)
    grey = color.mean()
    return grey + rng.uniform(low, 1.0) * (color - grey)


def sample_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random background: gradient + smooth noise + shapes, maybe a floor.

    Args:
        rng (Generator): Random source.
        size (int): Side ``S`` of the square image.

    Returns:
        ndarray[S, S, 3]: float32 RGB in [0, 1].
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xs + np.sin(angle) * ys)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    c0, c1 = _muted(rng), _muted(rng)
    img = c0 + (c1 - c0) * t[..., None]

    # Smooth colour noise: a coarse random grid upsampled bicubically.
    cells = int(rng.integers(2, 9))
    coarse = rng.uniform(-1, 1, (cells, cells, 3)).astype(np.float32)
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    img = img + rng.uniform(0.05, 0.35) * noise

    if rng.random() < 0.5:  # a floor below a horizon
        horizon = int(size * rng.uniform(0.45, 0.85))
        floor = _muted(rng) * (0.6 + 0.4 * ys[horizon:, :, None])
        img[horizon:] = 0.5 * img[horizon:] + floor

    canvas = np.ascontiguousarray(np.clip(img, 0, 1) * 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 9))):
        color = tuple(int(c) for c in np.clip(255 * _muted(rng), 0, 255))
        kind = rng.integers(3)
        p = rng.integers(-size // 4, size + size // 4, 4)
        if kind == 0:
            cv2.rectangle(canvas, (int(p[0]), int(p[1])),
                          (int(p[2]), int(p[3])), color, -1)
        elif kind == 1:
            radius = int(rng.integers(size // 16 + 1, size // 3 + 2))
            cv2.circle(canvas, (int(p[0]), int(p[1])), radius, color, -1)
        else:
            thick = int(rng.integers(1, max(2, size // 20)))
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])),
                     color, thick)
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.5))
    return canvas.astype(np.float32) / 255.0
