"""Skinning, blend shapes and joint regressors of the synthetic body.

Helpers of :mod:`mmhuman_imphmr.body_models.synthetic`; all work on the
neutral rest-pose mesh of :mod:`.synthetic_mesh` and the design skeleton.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from mmhuman_imphmr.utils.constants import SMPL_PARENTS
from .synthetic_mesh import (HEAD, HEAD_TOP_Y, LEFT_ARM, LEFT_LEG, RIGHT_ARM,
                             RIGHT_LEG, TORSO)

# Bones (joint index) that may skin each body part; the nearest one wins
# before the weights are diffused over the surface.
_ALLOWED = {
    TORSO: [0, 1, 2, 3, 6, 9, 13, 14],
    HEAD: [9, 12, 13, 14, 15],
    LEFT_LEG: [0, 1, 4, 7, 10],
    RIGHT_LEG: [0, 2, 5, 8, 11],
    LEFT_ARM: [13, 16, 18, 20, 22],
    RIGHT_ARM: [14, 17, 19, 21, 23],
}

# The child joint at the end of each joint's (first) bone segment.
_CHILD = {
    0: 3,
    3: 6,
    6: 9,
    9: 12,
    12: 15,
    13: 16,
    14: 17,
    16: 18,
    17: 19,
    18: 20,
    19: 21,
    20: 22,
    21: 23,
    1: 4,
    2: 5,
    4: 7,
    5: 8,
    7: 10,
    8: 11
}


def bone_segments(joints: np.ndarray
                  ) -> List[List[Tuple[np.ndarray, np.ndarray]]]:
    """Segments that make up the bone of each joint (joint -> child)."""
    j = joints
    tips = {
        15: j[15] + (0, HEAD_TOP_Y - j[15][1] - 0.03, 0),
        22: j[22] + (0.09, 0, 0),
        23: j[23] - (0.09, 0, 0),
        10: j[10] + (0, 0, 0.07),
        11: j[11] + (0, 0, 0.07)
    }
    child = _CHILD
    segs = []
    for k in range(24):
        if k == 0:
            segs.append([(j[0], j[3]), (j[0], j[1]), (j[0], j[2])])
        elif k in tips:
            segs.append([(j[k], tips[k])])
        else:
            segs.append([(j[k], j[child[k]])])
    return segs


def _closest_on_segment(p: np.ndarray, a: np.ndarray,
                        b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0)
    return a + t[:, None] * ab, t


def bone_distances(verts: np.ndarray, joints: np.ndarray):
    """Distance of each vertex to each bone ``(V, 24)``; the closest point
    ``(V, 24, 3)`` on, and position ``t`` ``(V, 24)`` along, the bone's
    first segment."""
    segs = bone_segments(joints)
    n = len(verts)
    dist = np.full((n, 24), np.inf)
    close = np.zeros((n, 24, 3))
    tpos = np.zeros((n, 24))
    for k, seg_list in enumerate(segs):
        for s, (a, b) in enumerate(seg_list):
            c, t = _closest_on_segment(verts, a, b)
            d = np.linalg.norm(verts - c, axis=1)
            dist[:, k] = np.minimum(dist[:, k], d)
            if s == 0:  # continuous in the vertex position
                close[:, k], tpos[:, k] = c, t
    return dist, close, tpos


def adjacency_average(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """Row-normalised vertex adjacency (the uniform Laplacian average)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), (n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    return (sp.diags(1.0 / np.asarray(adj.sum(1)).ravel()) @ adj).tocsr()


def skinning_weights(verts: np.ndarray,
                     faces: np.ndarray,
                     part: np.ndarray,
                     joints: np.ndarray,
                     iters: int = 18) -> np.ndarray:
    """Nearest allowed bone per vertex, then diffused over the surface.

    ``iters`` lazy-averaging steps over the mesh graph (~2 cm edges) blend
    neighbouring bones over a few centimetres around each joint; rows keep
    summing to 1 because averaging preserves sums.
    """
    dist, _, _ = bone_distances(verts, joints)
    mask = np.zeros_like(dist, dtype=bool)
    for p, allowed in _ALLOWED.items():
        mask[np.ix_(part == p, allowed)] = True
    label = np.argmin(np.where(mask, dist, np.inf), axis=1)
    w = np.zeros((len(verts), 24))
    w[np.arange(len(verts)), label] = 1.0
    avg = adjacency_average(faces, len(verts))
    for _ in range(iters):
        w = 0.5 * w + 0.5 * (avg @ w)
    return w / w.sum(1, keepdims=True)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (verts[faces[:, i]] for i in range(3))
    fn = np.cross(b - a, c - a)
    n = np.zeros_like(verts)
    for i in range(3):
        np.add.at(n, faces[:, i], fn)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _skeletal_field(weights, tpos, joints, delta_j) -> np.ndarray:
    """Vertex offsets following moved joints: each bone's skin moves with
    the joint displacements interpolated along the bone."""
    child_delta = np.array(delta_j, dtype=np.float64)
    for k, c in _CHILD.items():
        # Leaves (head, hands, feet) translate rigidly with their joint.
        child_delta[k] = delta_j[c]
    per_bone = ((1 - tpos)[..., None] * delta_j[None] +
                tpos[..., None] * child_delta[None])  # (V, 24, 3)
    return np.einsum('vj,vjc->vc', weights, per_bone)


def shape_directions(verts: np.ndarray, faces: np.ndarray, weights: np.ndarray,
                     joints: np.ndarray) -> np.ndarray:
    """Ten smooth shape directions ``(V, 3, 10)``, one standard deviation
    each.

    0 height (uniform scale about the pelvis, ~+6 cm), 1 girth (radial
    inflation around the bones plus a belly), 2 arm and leg length,
    3 shoulder width, 4 hip width, 5 torso length, 6 head size, 7 leg length
    against arm length, 8 chest depth, 9 belly / posture (pelvis tilt).
    """
    n = len(verts)
    _, close, tpos = bone_distances(verts, joints)
    dirs = np.zeros((n, 3, 10))
    left = joints[:, 0] > 0.01
    right = joints[:, 0] < -0.01
    side = np.where(left, 1.0, np.where(right, -1.0, 0.0))

    def skel(delta):
        return _skeletal_field(weights, tpos, joints, np.asarray(delta))

    dirs[:, :, 0] = 0.035 * (verts - joints[0])
    radial = verts - np.einsum('vj,vjc->vc', weights, close)
    torso_w = weights[:, [0, 3, 6, 9]].sum(1)
    front = 1 / (1 + np.exp(-(verts[:, 2] - 0.03) / 0.02))
    belly = np.exp(-0.5 * ((verts[:, 1] + 0.08) / 0.1)**2) * front * torso_w
    dirs[:, :, 1] = 0.09 * radial + 0.03 * belly[:, None] * (0, 0, 1)
    arms = [16, 17, 18, 19, 20, 21, 22, 23]
    legs = [1, 2, 4, 5, 7, 8, 10, 11]
    d = np.zeros((24, 3))
    for k in arms:
        d[k] = 0.05 * (joints[k] - joints[16 if k % 2 == 0 else 17])
    for k in legs:
        d[k] = 0.05 * (joints[k] - joints[1 if k % 3 == 1 else 2])
    dirs[:, :, 2] = skel(d)
    d = np.zeros((24, 3))
    d[[13, 14], 0] = 0.012 * side[[13, 14]]
    d[arms, 0] = 0.025 * side[arms]
    dirs[:, :, 3] = skel(d)
    d = np.zeros((24, 3))
    d[legs, 0] = 0.018 * side[legs]
    hip_w = weights[:, [0, 1, 2]].sum(1)
    dirs[:, :, 4] = skel(d)
    dirs[:, 0, 4] += 0.1 * verts[:, 0] * hip_w * (verts[:, 1] < 0)
    d = np.zeros((24, 3))
    d[3, 1], d[6, 1], d[9, 1] = 0.01, 0.025, 0.035
    d[[12, 13, 14, 15] + arms, 1] = 0.04
    dirs[:, :, 5] = skel(d)
    head_w = weights[:, [12, 15]].sum(1) * (verts[:, 1] > joints[12, 1])
    dirs[:, :, 6] = 0.07 * (verts - joints[15]) * head_w[:, None]
    d = np.zeros((24, 3))
    for k in legs:
        d[k] = 0.04 * (joints[k] - joints[1 if k % 3 == 1 else 2])
    for k in arms:
        d[k] = -0.03 * (joints[k] - joints[16 if k % 2 == 0 else 17])
    dirs[:, :, 7] = skel(d)
    chest_w = weights[:, [6, 9]].sum(1)
    dirs[:, 2, 8] = 0.12 * (verts[:, 2] - 0.005) * chest_w
    dirs[:, :, 9] = (0.04 * belly[:, None] * (0, -0.3, 1) -
                     0.02 * hip_w[:, None] * (1 - front)[:, None] * (0, 0, 1) *
                     (verts[:, 1] < -0.1)[:, None])
    return dirs


def pose_directions(verts: np.ndarray,
                    faces: np.ndarray,
                    weights: np.ndarray,
                    amount: float = 0.006) -> np.ndarray:
    """Pose correctives ``(V, 3, 207)``: a bulge at bent joints.

    For joint ``j`` the diagonal entries of ``R_j - I`` (features
    ``9(j-1) + {0, 4, 8}``) sum to ``2 cos(theta) - 2``; the coefficients
    ``-amount * 4 w_j w_parent * n`` therefore push the skin where bone j and
    its parent blend outward along the normal n by ``2 amount (1 - cos
    theta) * 4 w_j w_parent`` -- about 1 cm at a 90 degree bend -- which
    offsets the volume linear blend skinning loses there.
    """
    normals = vertex_normals(verts, faces)
    dirs = np.zeros((len(verts), 3, 207))
    for j in range(1, 24):
        blend = 4 * weights[:, j] * weights[:, SMPL_PARENTS[j]]
        for k in (0, 4, 8):
            dirs[:, :, 9 * (j - 1) + k] = -amount * blend[:, None] * normals
    return dirs


def regressor_row(verts: np.ndarray,
                  target: np.ndarray,
                  sigma: float,
                  name: str = '') -> np.ndarray:
    """Non-negative weights summing to 1 whose average of ``verts`` is
    ``target``; widens the kernel (up to 4 times) when the target is not
    inside the hull of the nearby vertices."""
    for k in range(5):
        row, err = _tilted_kernel(verts, target, sigma * 1.4**k)
        if err < 1e-3:
            return row
    raise RuntimeError(f'synthetic regressor for {name}: target is '
                       f'{err * 1000:.1f} mm off the vertex hull')


def _tilted_kernel(verts: np.ndarray, target: np.ndarray,
                   sigma: float) -> Tuple[np.ndarray, float]:
    """Non-negative weights summing to 1 whose average of ``verts`` is
    ``target``.

    A Gaussian kernel of width ``sigma`` around the target picks the nearby
    vertices; an exponential tilt ``w * exp(lambda . v)`` (maximum entropy)
    moves its mean exactly onto the target, which must lie inside the hull of
    those vertices.
    """
    d2 = np.sum((verts - target)**2, 1)
    idx = np.nonzero(d2 < (3 * sigma)**2)[0]
    x = verts[idx] - target
    logw0 = -0.5 * d2[idx] / sigma**2
    lam = np.zeros(3)
    for _ in range(100):
        lw = logw0 + x @ lam
        w = np.exp(lw - lw.max())
        w /= w.sum()
        mean = w @ x
        if np.linalg.norm(mean) < 1e-7:
            break
        cov = (x - mean).T @ ((x - mean) * w[:, None]) + 1e-9 * np.eye(3)
        step = np.linalg.solve(cov, mean)
        lam -= step * min(1.0, 5.0 / (np.linalg.norm(step) * sigma + 1e-12))
    keep = w > 1e-6 * w.max()
    w = np.where(keep, w, 0.0)
    w /= w.sum()
    row = np.zeros(len(verts))
    row[idx] = w
    return row, float(np.linalg.norm(w @ x))


def regressor(verts: np.ndarray, targets: Sequence[np.ndarray],
              sigmas: Sequence[float], names: Sequence[str]) -> np.ndarray:
    return np.stack([
        regressor_row(verts, np.asarray(t), s, n)
        for t, s, n in zip(targets, sigmas, names)
    ])


def joint_sigmas() -> np.ndarray:
    """Kernel width of each SMPL joint's regressor (metres)."""
    s = np.full(24, 0.035)
    s[[0, 3, 6, 9]] = 0.06
    s[[1, 2, 12, 13, 14, 15, 16, 17]] = 0.045
    s[[10, 11, 20, 21, 22, 23]] = 0.03
    return s


def extra_and_h36m_targets(joints: np.ndarray) -> Dict[str, Tuple]:
    """Target points of the 9 extra and 17 H36M regressor rows, from the
    design skeleton (positions as in SPIN's / H36M's annotations)."""
    j = joints
    mid_neck = 0.5 * (j[12] + j[15])
    top = np.array([0.0, HEAD_TOP_Y - 0.015, 0.015])
    lhip = j[1] + (0.012, -0.035, 0.0)
    rhip = j[2] + (-0.012, -0.035, 0.0)
    extra = {
        'Right Hip': (rhip, 0.045),
        'Left Hip': (lhip, 0.045),
        'Neck (LSP)': (mid_neck, 0.04),
        'Top of Head (LSP)': (top, 0.03),
        'Pelvis (MPII)': (np.array([0.0, -0.30, 0.0]), 0.05),
        'Thorax (MPII)': (np.array([0.0, 0.25, -0.01]), 0.05),
        'Spine (H36M)': (np.array([0.0, 0.0, -0.005]), 0.06),
        'Jaw (H36M)': (np.array([0.0, 0.385, 0.06]), 0.025),
        'Head (H36M)': (np.array([0.0, 0.50, 0.02]), 0.04),
    }
    h36m = {
        'Pelvis': (np.array([0.0, -0.26, 0.0]), 0.06),
        'Right Hip': (rhip, 0.045),
        'Right Knee': (j[5], 0.035),
        'Right Ankle': (j[8], 0.03),
        'Left Hip': (lhip, 0.045),
        'Left Knee': (j[4], 0.035),
        'Left Ankle': (j[7], 0.03),
        'Spine': (np.array([0.0, 0.0, -0.005]), 0.06),
        'Thorax': (np.array([0.0, 0.25, -0.01]), 0.05),
        'Neck/Nose': (np.array([0.0, 0.43, 0.07]), 0.03),
        'Head': (np.array([0.0, 0.50, 0.02]), 0.04),
        'Left Shoulder': (j[16] + (0.0, 0.01, 0.0), 0.045),
        'Left Elbow': (j[18], 0.035),
        'Left Wrist': (j[20], 0.03),
        'Right Shoulder': (j[17] + (0.0, 0.01, 0.0), 0.045),
        'Right Elbow': (j[19], 0.035),
        'Right Wrist': (j[21], 0.03),
    }
    return {'extra': extra, 'h36m': h36m}
