"""Skeleton and closed template mesh of the synthetic SMPL-format body.

The surface is built like a box-modelled mannequin: a torso tube of rings,
whose bottom ring splits into two leg tubes (a "pants" split along a bridge of
vertices under the crotch) and whose top ring splits into two arm tubes (a
bridge over each shoulder) and a neck/head tube. Each split keeps the surface
a closed, consistently oriented genus-0 manifold; limbs are swept along the
bones with elliptic cross-sections, feet bend forward from the ankle, hands
are flat mittens, tubes end in triangle fans. A few Taubin smoothing steps
round the junctions; small bumps add a nose and ears. Edges are then split
(longest first) until the mesh has exactly SMPL's 6890 vertices, so it has
``2 * 6890 - 4 = 13776`` triangles like SMPL.

Coordinates follow SMPL's rest pose: metres, y up, the person faces +z and
their left is +x.
"""
import heapq
from typing import Dict, List, Sequence, Tuple

import numpy as np

NUM_VERTICES = 6890

# Body parts a vertex can belong to (decides which bones may skin it).
TORSO, HEAD, LEFT_LEG, RIGHT_LEG, LEFT_ARM, RIGHT_ARM = range(6)

# Design skeleton of the neutral body (left side; the right is mirrored in x).
# Proportions follow the usual ones of an adult (~1.73 m), SMPL joint order.
_LEFT_JOINTS = {
    0: (0.0, -0.22, 0.0),
    1: (0.075, -0.31, 0.0),
    3: (0.0, -0.10, -0.01),
    4: (0.10, -0.69, 0.005),
    6: (0.0, 0.025, -0.005),
    7: (0.09, -1.075, -0.035),
    9: (0.0, 0.085, 0.0),
    10: (0.105, -1.135, 0.085),
    12: (0.0, 0.29, -0.015),
    13: (0.08, 0.195, -0.015),
    15: (0.0, 0.36, 0.02),
    16: (0.175, 0.225, -0.02),
    18: (0.43, 0.215, -0.035),
    20: (0.685, 0.22, -0.04),
    22: (0.77, 0.215, -0.045)
}
_MIRROR = {2: 1, 5: 4, 8: 7, 11: 10, 14: 13, 17: 16, 19: 18, 21: 20, 23: 22}
HEAD_TOP_Y = 0.563
SOLE_Y = -1.165


def design_joints() -> np.ndarray:
    """The 24 rest-pose joints the mesh is built around, ``(24, 3)``."""
    joints = np.zeros((24, 3))
    for j, p in _LEFT_JOINTS.items():
        joints[j] = p
    for j, src in _MIRROR.items():
        joints[j] = joints[src] * (-1.0, 1.0, 1.0)
    return joints


class _Builder:
    """Accumulates vertices (with a part label) and triangles."""

    def __init__(self):
        self.pos: List[np.ndarray] = []
        self.part: List[int] = []
        self.tris: List[Tuple[int, int, int]] = []

    def add(self, pts: np.ndarray, part: int) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(pts, dtype=np.float64))
        start = len(self.pos)
        self.pos.extend(pts)
        self.part.extend([part] * len(pts))
        return np.arange(start, start + len(pts))

    def band(self, r0: Sequence[int], r1: Sequence[int], flip: bool) -> None:
        """Quads between two rings of equal size, cut along the short
        diagonal."""
        n = len(r0)
        assert len(r1) == n
        for j in range(n):
            a, b, c, d = r0[j], r0[(j + 1) % n], r1[(j + 1) % n], r1[j]
            if flip:
                a, b, c, d = b, a, d, c
            pa, pb, pc, pd = (self.pos[i] for i in (a, b, c, d))
            if np.sum((pa - pc)**2) <= np.sum((pb - pd)**2):
                self.tris += [(a, b, c), (a, c, d)]
            else:
                self.tris += [(a, b, d), (b, c, d)]

    def cap(self, ring: Sequence[int], apex, part: int, flip: bool) -> int:
        k = int(self.add(apex, part)[0])
        n = len(ring)
        for j in range(n):
            a, b = ring[j], ring[(j + 1) % n]
            self.tris.append((b, a, k) if flip else (a, b, k))
        return k


def _split(ring: Sequence[int], i: int, j: int,
           bridge: Sequence[int]) -> Tuple[List[int], List[int]]:
    """Split a ring along a bridge of new vertices from ring[i] to ring[j].

    Returns ``ring[i..j] + bridge reversed`` and ``ring[j..i] + bridge``
    (cyclic ranges, both ends included); the bridge edges run in opposite
    directions in the two rings, so tubes continued from both stay
    consistently oriented.
    """
    n = len(ring)
    first = [ring[(i + k) % n] for k in range((j - i) % n + 1)]
    second = [ring[(j + k) % n] for k in range((i - j) % n + 1)]
    return first + list(bridge)[::-1], second + list(bridge)


def _ring_angles(pts, center, u, v) -> np.ndarray:
    d = pts - center
    return np.unwrap(np.arctan2(d @ v, d @ u))


def _uniform_like(psi: np.ndarray) -> np.ndarray:
    """Evenly spaced angles running the same way as ``psi``, least twist."""
    n = len(psi)
    sign = 1.0 if psi[-1] > psi[0] else -1.0
    base = sign * 2 * np.pi * np.arange(n) / n
    return base + np.mean(psi - base)


def _sweep(b: _Builder,
           ring0: Sequence[int],
           frame0,
           rings,
           part: int,
           flip: bool,
           n_blend: int = 4) -> List[int]:
    """Continue a tube from ``ring0`` through elliptic rings.

    Args:
        frame0: ``(center, u, v)`` in which the angles of ``ring0`` are read.
        rings: list of ``(center, u, v, ru, rv_pos, rv_neg)``; a vertex at
            angle psi sits at ``center + ru cos(psi) u + rv sin(psi) v`` with
            ``rv = rv_pos`` where ``sin(psi) > 0`` else ``rv_neg``.
    Returns:
        The indices of the last ring.
    """
    psi0 = _ring_angles(np.array([b.pos[i] for i in ring0]), *frame0)
    psiu = _uniform_like(psi0)
    prev = list(ring0)
    for k, (c, u, v, ru, rvp, rvn) in enumerate(rings):
        s = min(1.0, (k + 1) / n_blend)
        s = s * s * (3 - 2 * s)
        psi = (1 - s) * psi0 + s * psiu
        sn = np.sin(psi)
        rv = np.where(sn > 0, rvp, rvn)
        pts = (
            np.asarray(c) + (ru * np.cos(psi))[:, None] * np.asarray(u) +
            (rv * sn)[:, None] * np.asarray(v))
        cur = list(b.add(pts, part))
        b.band(prev, cur, flip)
        prev = cur
    return prev


def _lerp_table(table, x):
    table = np.asarray(table, dtype=np.float64)
    table = table[np.argsort(table[:, 0])]
    return [
        np.interp(x, table[:, 0], table[:, k])
        for k in range(1, table.shape[1])
    ]


_EX, _EY, _EZ = np.eye(3)
N_TORSO = 48


def _torso(b: _Builder) -> Tuple[List[int], List[int]]:
    """Torso rings from the hips to the armpits; returns (bottom, top)."""
    prof = [(-0.30, 0.170, 0.105, -0.008), (-0.24, 0.173, 0.106, -0.008),
            (-0.16, 0.160, 0.100, 0.0), (-0.08, 0.146, 0.095, 0.002),
            (0.00, 0.150, 0.098, 0.004), (0.08, 0.160, 0.106, 0.008),
            (0.13, 0.166, 0.106, 0.006)]
    theta = 2 * np.pi * np.arange(N_TORSO) / N_TORSO
    c, s = np.cos(theta), np.sin(theta)
    ce = np.sign(c) * np.abs(c)**(2 / 2.4)  # rounded-box cross-section
    se = np.sign(s) * np.abs(s)**(2 / 2.4)
    rings = []
    for y in np.linspace(-0.30, 0.13, 21):
        a, d, zc = _lerp_table(prof, y)
        pts = np.stack([a * ce, np.full(N_TORSO, y), zc + d * se], 1)
        rings.append(list(b.add(pts, TORSO)))
        if len(rings) > 1:
            b.band(rings[-2], rings[-1], flip=False)
    return rings[0], rings[-1]


def _leg(b: _Builder, ring0: List[int], side: float) -> None:
    """Thigh, shank and a foot bending forward; ``side`` = +1 left."""
    x_tab = [(-0.31, 0.085), (-0.40, 0.097), (-0.69, 0.10), (-1.075, 0.09)]
    z_tab = [(-0.31, 0.0), (-0.69, 0.005), (-0.80, -0.008), (-1.075, -0.035)]
    r_tab = [(-0.33, 0.085), (-0.40, 0.079), (-0.50, 0.070), (-0.60, 0.060),
             (-0.69, 0.050), (-0.77, 0.054), (-0.85, 0.051), (-0.95, 0.041),
             (-1.03, 0.035), (-1.05, 0.034)]
    ex = _EX * side
    rings = []
    ys = np.linspace(-0.355, -1.05, 36)
    for k, y in enumerate(ys):
        x, = _lerp_table(x_tab, y)
        z, = _lerp_table(z_tab, y)
        r, = _lerp_table(r_tab, y)
        rings.append(((side * x, y, z), ex, _EZ, r, r, r))
    xa, za, y0, rb = 0.09, -0.035, -1.05, 0.085
    for al in np.linspace(0, np.pi / 2, 8)[1:]:  # heel bend
        t = al / (np.pi / 2)
        c = (side * (xa + 0.01 * t), y0 - rb * np.sin(al),
             za + rb * (1 - np.cos(al)))
        v = np.array([0.0, np.sin(al), np.cos(al)])
        heel = 0.03 * np.sin(2 * al)**2
        rings.append((c, ex, v, 0.036 + 0.01 * t, 0.034 - 0.007 * t,
                      0.034 - 0.004 * t + heel))
    for z in np.linspace(0.07, 0.165, 6):  # foot to the toes
        t = (z - 0.05) / 0.115
        rvn = 0.030 - 0.012 * t**2
        rings.append(((side * (0.10 + 0.012 * t), SOLE_Y + rvn, z), ex, _EY,
                      0.046 - 0.008 * t**2, 0.027 - 0.01 * t, rvn))
    last = _sweep_tilted(b, ring0, ((side * 0.085, -0.31, 0.0), ex, _EZ),
                         rings, side)
    b.cap(last, (side * 0.112, -1.15, 0.183), _part(LEFT_LEG, side), flip=True)


def _part(left_part: int, side: float) -> int:
    return left_part if side > 0 else left_part + 1


def _sweep_tilted(b, ring0, frame0, rings, side):
    """Leg sweep whose first rings are tilted (outer side higher)."""
    part = _part(LEFT_LEG, side)
    start = len(b.pos)
    last = _sweep(b, ring0, frame0, rings, part, flip=True)
    # Vertices of ring k (k = 0..4) get y += tilt_k * outward offset.
    n = len(ring0)
    for k in range(5):
        tilt = 0.38 * (1 - (k + 1) / 6)
        for i in range(start + k * n, start + (k + 1) * n):
            c = rings[k][0]
            b.pos[i] = b.pos[i] + (0, tilt * side * (b.pos[i][0] - c[0]), 0)
    return last


def _arm(b: _Builder, ring0: List[int], side: float) -> None:
    """Upper arm, forearm and a flat mitten hand along +-x."""
    part = _part(LEFT_ARM, side)
    yz_tab = [(0.175, 0.225, -0.02), (0.43, 0.215, -0.035),
              (0.685, 0.22, -0.04), (0.875, 0.21, -0.045)]
    r_tab = [(0.20, 0.060, 0.060), (0.26, 0.052, 0.053), (0.33, 0.046, 0.046),
             (0.41, 0.040, 0.040), (0.48, 0.041, 0.043), (0.60, 0.032, 0.036),
             (0.685, 0.022, 0.031), (0.72, 0.018, 0.042), (0.80, 0.016, 0.045),
             (0.85, 0.013, 0.040), (0.87, 0.010, 0.030)]
    rings = []
    for x in np.concatenate(
        [np.linspace(0.20, 0.685, 26),
         np.linspace(0.705, 0.865, 9)]):
        y, z = _lerp_table(yz_tab, x)
        ry, rz = _lerp_table(r_tab, x)
        rings.append(((side * x, y, z), _EY, _EZ, ry, rz, rz))
    c0 = np.mean([b.pos[i] for i in ring0], 0)
    last = _sweep(b, ring0, (c0, _EY, _EZ), rings, part, flip=False)
    b.cap(last, (side * 0.882, 0.21, -0.045), part, flip=False)


def _neck_head(b: _Builder, ring0: List[int]) -> None:
    """From the shoulder ring through the neck into an ellipsoid head."""
    pts0 = np.array([b.pos[i] for i in ring0])
    c0 = pts0.mean(0)
    psi = _uniform_like(_ring_angles(pts0, c0, _EX, _EZ))
    neck = np.stack([
        0.058 * np.cos(psi),
        np.full(len(psi), 0.30), -0.012 + 0.052 * np.sin(psi)
    ], 1)
    prev = list(ring0)
    for k in range(1, 7):  # chest/trapezius: rise first, then narrow
        s = k / 6
        sy, sxz = np.sin(np.pi * s / 2), 1 - np.cos(np.pi * s / 2)
        pts = pts0 + (neck - pts0) * np.array([sxz, sy, sxz])
        cur = list(b.add(pts, HEAD))
        b.band(prev, cur, False)
        prev = cur
    rings = [((0, 0.327, -0.008), _EX, _EZ, 0.056, 0.054, 0.054)]
    yc, ax, ay, az, zc = 0.455, 0.079, HEAD_TOP_Y - 0.455, 0.097, 0.015
    for th in np.linspace(0.85, np.pi - 0.28, 13):
        rings.append(((0, yc - ay * np.cos(th), zc), _EX, _EZ, ax * np.sin(th),
                      az * np.sin(th), az * np.sin(th)))
    last = _sweep(
        b,
        prev, ((0, 0.30, -0.012), _EX, _EZ),
        rings,
        HEAD,
        flip=False,
        n_blend=1)
    b.cap(last, (0, HEAD_TOP_Y, zc), HEAD, flip=False)


def _build_topology() -> _Builder:
    b = _Builder()
    bottom, top = _torso(b)
    # Legs: bridge under the crotch from the front centre (12) to the back
    # centre (36) of the bottom ring.
    p_front, p_back = b.pos[bottom[12]], b.pos[bottom[36]]
    crotch = []
    for m in range(1, 8):
        t = m / 8
        z = 0.5 * (p_front[2] + p_back[2]) + 0.5 * (
            p_front[2] - p_back[2]) * np.cos(np.pi * t)
        crotch.append((0.0, -0.30 - 0.065 * np.sin(np.pi * t), z))
    crotch_idx = b.add(crotch, TORSO)
    right_ring, left_ring = _split(bottom, 12, 36, crotch_idx)
    _leg(b, left_ring, 1.0)
    _leg(b, right_ring, -1.0)

    # Arms: a bridge over each shoulder from the back (42 / 30) to the front
    # (6 / 18) of the top ring.
    def shoulder_bridge(i_back, i_front, side):
        pb, pf = b.pos[top[i_back]], b.pos[top[i_front]]
        pts = []
        for m in range(1, 12):
            t = m / 12
            p = (1 - t) * pb + t * pf
            zmid, zr = 0.5 * (pb[2] + pf[2]), 0.5 * (pf[2] - pb[2])
            pts.append((p[0] + side * 0.06 * np.sin(np.pi * t),
                        p[1] + 0.145 * np.sin(np.pi * t),
                        zmid - zr * np.cos(np.pi * t)))
        return b.add(pts, TORSO)

    left_bridge = shoulder_bridge(42, 6, 1.0)
    left_arm, rest = _split(top, 42, 6, left_bridge)
    # In ``rest`` (top[6..42] + left bridge), top[18] is at 12, top[30] at 24.
    right_bridge = shoulder_bridge(30, 18, -1.0)[::-1]  # listed front->back
    right_arm, neck = _split(rest, 12, 24, right_bridge)
    _arm(b, left_arm, 1.0)
    _arm(b, right_arm, -1.0)
    _neck_head(b, neck)
    return b


def _taubin(pos: np.ndarray, faces: np.ndarray, iters: int) -> np.ndarray:
    import scipy.sparse as sp
    n = len(pos)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), (n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    avg = sp.diags(1.0 / np.asarray(adj.sum(1)).ravel()) @ adj
    for _ in range(iters):
        for lam in (0.5, -0.53):
            pos = pos + lam * (avg @ pos - pos)
    return pos


def _split_long_edges(pos: List[np.ndarray], part: List[int], tris: list,
                      target: int) -> None:
    """Split the longest edges (in place) until there are ``target``
    vertices; each split adds one vertex and two triangles."""
    he: Dict[Tuple[int, int], int] = {}
    for f, (a, b, c) in enumerate(tris):
        he[(a, b)] = he[(b, c)] = he[(c, a)] = f
    heap = [(-float(np.sum((pos[a] - pos[b])**2)), a, b) for (a, b) in he
            if a < b]
    heapq.heapify(heap)
    while len(pos) < target:
        _, a, b = heapq.heappop(heap)
        if (a, b) not in he:
            continue
        f1, f2 = he.pop((a, b)), he.pop((b, a))
        c = [v for v in tris[f1] if v not in (a, b)][0]
        d = [v for v in tris[f2] if v not in (a, b)][0]
        m = len(pos)
        pos.append(0.5 * (pos[a] + pos[b]))
        part.append(part[a])
        f3, f4 = len(tris), len(tris) + 1
        tris[f1], tris[f2] = (a, m, c), (b, m, d)
        tris += [(m, b, c), (m, a, d)]
        for (u, w), f in {
            (a, m): f1,
            (m, c): f1,
            (c, a): f1,
            (m, b): f3,
            (b, c): f3,
            (c, m): f3,
            (b, m): f2,
            (m, d): f2,
            (d, b): f2,
            (m, a): f4,
            (a, d): f4,
            (d, m): f4
        }.items():
            he[(u, w)] = f
        for u in (a, b, c, d):
            lo, hi = min(u, m), max(u, m)
            heapq.heappush(heap, (-float(np.sum(
                (pos[u] - pos[m])**2)), lo, hi))


def _bump(pos, center, sigma, amp, direction, mask):
    d = (pos - np.asarray(center)) / np.asarray(sigma)
    g = amp * np.exp(-0.5 * np.sum(d * d, 1)) * mask
    return pos + g[:, None] * np.asarray(direction)


def build_template_mesh() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neutral rest-pose surface.

    Returns:
        tuple: vertices ``(6890, 3)`` float64, faces ``(13776, 3)`` int64
        (outward, counter-clockwise), part label per vertex ``(6890,)``.
    """
    b = _build_topology()
    if len(b.pos) > NUM_VERTICES:
        raise RuntimeError(f'synthetic mesh has {len(b.pos)} vertices before '
                           f'refinement, more than {NUM_VERTICES}')
    pos = _taubin(np.array(b.pos), np.array(b.tris), iters=6)
    pos_list, part, tris = list(pos), list(b.part), list(b.tris)
    _split_long_edges(pos_list, part, tris, NUM_VERTICES)
    pos, faces, part = np.array(pos_list), np.array(tris), np.array(part)
    pos = _taubin(pos, faces, iters=2)
    head = (part == HEAD).astype(np.float64)
    front = head * (pos[:, 2] > 0.03)
    pos = _bump(pos, (0, 0.432, 0.11), (0.011, 0.02, 0.03), 0.024, _EZ, front)
    pos = _bump(pos, (0, 0.437, 0.11), (0.009, 0.012, 0.03), -0.004, _EY,
                front)
    pos = _bump(pos, (0, 0.385, 0.09), (0.025, 0.014, 0.03), 0.014, _EZ,
                front)  # chin
    for side in (1.0, -1.0):
        pos = _bump(pos, (side * 0.08, 0.447, 0.0), (0.02, 0.022, 0.014),
                    0.013, side * _EX, head)
        pos = _bump(pos, (side * 0.032, 0.466, 0.1), (0.012, 0.008, 0.03),
                    -0.006, _EZ, front)
    # Outward orientation: positive signed volume.
    a, b_, c = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    if np.einsum('ij,ij->i', a, np.cross(b_, c)).sum() < 0:
        faces = faces[:, ::-1].copy()
    return pos, faces.astype(np.int64), part
