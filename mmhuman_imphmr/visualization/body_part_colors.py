"""Per-vertex colours of the SMPL body parts, from the skinning weights.

Each vertex belongs to the joint with the largest linear-blend-skinning
weight (SMPL's 24 joints, ``smpl.lbs_weights``); joints are grouped into
the body parts below and each part has one colour. Left and right parts get
different hues so that the side a view shows can be read off the render
(the point of the imagined-views strip). Works the same for the licensed
SMPL files and the generated synthetic model (both have ``weights``).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmhuman_imphmr.utils.constants import NUM_SMPL_JOINTS, SMPL_JOINT_NAMES

# Body part -> SMPL joints whose skinning region forms it.
BODY_PARTS: Dict[str, List[str]] = {
    'torso': ['pelvis', 'spine1', 'spine2', 'spine3'],
    'head': ['neck', 'head'],
    'left_arm': ['left_collar', 'left_shoulder', 'left_elbow'],
    'right_arm': ['right_collar', 'right_shoulder', 'right_elbow'],
    'left_hand': ['left_wrist', 'left_hand'],
    'right_hand': ['right_wrist', 'right_hand'],
    'left_leg': ['left_hip', 'left_knee'],
    'right_leg': ['right_hip', 'right_knee'],
    'left_foot': ['left_ankle', 'left_foot'],
    'right_foot': ['right_ankle', 'right_foot'],
}

# RGB in [0, 1]: muted colours that stay readable under Lambertian shading;
# warm hues on the left side of the body, cool hues on the right.
BODY_PART_PALETTE: Dict[str, Tuple[float, float, float]] = {
    'torso': (0.72, 0.72, 0.76),
    'head': (0.93, 0.80, 0.66),
    'left_arm': (0.90, 0.55, 0.30),
    'right_arm': (0.35, 0.60, 0.88),
    'left_hand': (0.95, 0.75, 0.35),
    'right_hand': (0.45, 0.80, 0.90),
    'left_leg': (0.80, 0.35, 0.35),
    'right_leg': (0.30, 0.45, 0.75),
    'left_foot': (0.60, 0.25, 0.25),
    'right_foot': (0.22, 0.30, 0.55),
}

# A single colour for predicted meshes drawn over photos (light blue, as
# common in mesh-recovery papers) and for ground truth (light green).
PRED_MESH_COLOR: Tuple[float, float, float] = (0.55, 0.70, 0.95)
GT_MESH_COLOR: Tuple[float, float, float] = (0.60, 0.90, 0.60)


def vertex_part_labels(lbs_weights: Tensor) -> Tensor:
    """Index of the body part (order of ``BODY_PARTS``) of every vertex.

    Args:
        lbs_weights (Tensor[V, 24]): Skinning weights of the body model.

    Returns:
        Tensor[V]: int64 part index in ``[0, len(BODY_PARTS))``.
    """
    if lbs_weights.dim() != 2 or lbs_weights.shape[1] != NUM_SMPL_JOINTS:
        raise ValueError(f'vertex_part_labels: lbs_weights must be Tensor[V, '
                         f'{NUM_SMPL_JOINTS}], found '
                         f'{tuple(lbs_weights.shape)}')
    joint_to_part = torch.empty(NUM_SMPL_JOINTS, dtype=torch.long)
    for part_idx, joints in enumerate(BODY_PARTS.values()):
        for name in joints:
            joint_to_part[SMPL_JOINT_NAMES.index(name)] = part_idx
    joint = lbs_weights.argmax(dim=1).cpu()
    return joint_to_part[joint]


def body_part_colors(lbs_weights: Tensor,
                     palette: Dict[str, Sequence[float]] = None) -> Tensor:
    """RGB colour per vertex from its body part.

    Args:
        lbs_weights (Tensor[V, 24]): Skinning weights of the body model.
        palette (dict, optional): Part name -> RGB in [0, 1]. Defaults to
            ``BODY_PART_PALETTE``.

    Returns:
        Tensor[V, 3]: float32 colours in [0, 1].
    """
    palette = BODY_PART_PALETTE if palette is None else palette
    missing = set(BODY_PARTS) - set(palette)
    if missing:
        raise KeyError(f'body_part_colors: palette lacks {sorted(missing)}')
    table = torch.tensor(
        np.array([palette[p] for p in BODY_PARTS]), dtype=torch.float32)
    return table[vertex_part_labels(lbs_weights)]


def uniform_colors(num_vertices: int,
                   color: Sequence[float] = PRED_MESH_COLOR) -> Tensor:
    """``Tensor[V, 3]`` filled with one RGB colour in [0, 1]."""
    return torch.tensor(
        color, dtype=torch.float32).expand(num_vertices, 3).clone()
