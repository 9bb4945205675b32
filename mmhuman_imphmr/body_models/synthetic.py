"""An embedded synthetic body model in the SMPL file format.

SMPL may not be shipped or downloaded, so the project builds its own stand-in
for tests, the quick start and demos. It is **not SMPL** and not fitted to any
scan: a smooth, closed mannequin with SMPL's interface, written in the layout
of the official files so the same loader reads both::

    root/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl  pickle (protocol 2), no chumpy
    root/J_regressor_extra.npy   (9, 6890)  rows: EXTRA_JOINT_NAMES
    root/J_regressor_h36m.npy    (17, 6890) rows: H36M_JOINT_NAMES
    root/smpl_mean_params.npz    pose (144), shape (10), cam (3)

How it is built (see :mod:`.synthetic_mesh` and :mod:`.synthetic_fields`):

- template: a closed genus-0 triangle mesh of exactly 6890 vertices and
  13776 faces in SMPL's T-pose (metres, y up, facing +z, left = +x, ~1.73 m),
  swept along a 24-joint skeleton with SMPL's joint tree and proportions;
- vertex order: vertices at the anatomical spots that smplx reads by fixed
  index (nose 332, eyes, ears, toes, heels, fingertips:
  ``smplx.vertex_ids['smplh']``) are swapped to those indices;
- ``weights``: nearest allowed bone, diffused over the surface, so skinning
  blends smoothly across every joint;
- ``J_regressor`` and the extra / H36M regressors: per joint, a Gaussian
  kernel of nearby vertices tilted so its mean is exactly the design joint;
- ``shapedirs``: ten smooth directions (height, girth, limb length, shoulder
  width, hip width, torso length, head size, leg/arm ratio, chest depth,
  belly), see :func:`.synthetic_fields.shape_directions`;
- ``posedirs``: a bulge where bent bones blend, quadratic in the bend angle
  (:func:`.synthetic_fields.pose_directions`);
- genders: the male / female templates are the neutral one moved along the
  shape directions (taller and broader / shorter, narrower shoulders, wider
  hips); ``seed`` adds a small random offset in the shape space, so
  different seeds give slightly different individuals.

Everything is deterministic: the same seed gives byte-identical files.
"""
import io
import os
import os.path as osp
import pickle
import zipfile
from typing import Dict

import numpy as np
import scipy.sparse as sp
import torch

from mmhuman_imphmr.utils import constants
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat, rotmat_to_rot6d
from .synthetic_fields import (extra_and_h36m_targets, joint_sigmas,
                               pose_directions, regressor, shape_directions,
                               skinning_weights)
from .synthetic_mesh import (HEAD, LEFT_ARM, LEFT_LEG, RIGHT_ARM, RIGHT_LEG,
                             build_template_mesh, design_joints)

# Bump when the generator's output changes: ensure_synthetic_body_model then
# regenerates stale folders.
GENERATOR_VERSION = 'imphmr-synthetic-smpl-1'
VERSION_FILE = 'SYNTHETIC_BODY_MODEL_VERSION'

FILES = {
    'neutral': osp.join('smpl', 'SMPL_NEUTRAL.pkl'),
    'male': osp.join('smpl', 'SMPL_MALE.pkl'),
    'female': osp.join('smpl', 'SMPL_FEMALE.pkl'),
    'joint_regressor_extra': 'J_regressor_extra.npy',
    'joint_regressor_h36m': 'J_regressor_h36m.npy',
    'mean_params': 'smpl_mean_params.npz',
}

# Betas that turn the neutral template into the gendered ones (assumption:
# +-1 sd of height, shoulders and hips, a usual dimorphism).
GENDER_BETAS = {
    'neutral': np.zeros(10),
    'male': np.array([1.0, 0.3, 0.2, 1.0, -0.6, 0.0, 0.2, 0.0, 0.5, 0.0]),
    'female':
    np.array([-1.0, -0.4, -0.2, -1.0, 1.0, 0.0, -0.2, 0.0, -0.4, 0.0]),
}
SEED_BETA_STD = 0.2  # size of the per-seed individual offset (in sd)

# Anatomical spot (point the nearest vertex of a part is taken to) of each
# smplx vertex joint, left side; right ones mirror x. Keys as in smplx.
_LEFT_SPOTS = {
    'nose': (HEAD, (0.0, 0.432, 0.16)),
    'leye': (HEAD, (0.032, 0.466, 0.11)),
    'lear': (HEAD, (0.11, 0.447, 0.0)),
    'LBigToe': (LEFT_LEG, (0.085, -1.155, 0.2)),
    'LSmallToe': (LEFT_LEG, (0.14, -1.16, 0.15)),
    'LHeel': (LEFT_LEG, (0.095, -1.18, -0.1)),
    'lthumb': (LEFT_ARM, (0.80, 0.205, 0.03)),
    'lindex': (LEFT_ARM, (0.875, 0.21, -0.02)),
    'lmiddle': (LEFT_ARM, (0.89, 0.21, -0.045)),
    'lring': (LEFT_ARM, (0.875, 0.21, -0.07)),
    'lpinky': (LEFT_ARM, (0.85, 0.21, -0.09)),
}
_RIGHT_NAMES = {
    'leye': 'reye',
    'lear': 'rear',
    'LBigToe': 'RBigToe',
    'LSmallToe': 'RSmallToe',
    'LHeel': 'RHeel',
    'lthumb': 'rthumb',
    'lindex': 'rindex',
    'lmiddle': 'rmiddle',
    'lring': 'rring',
    'lpinky': 'rpinky'
}
_RIGHT_PART = {HEAD: HEAD, LEFT_LEG: RIGHT_LEG, LEFT_ARM: RIGHT_ARM}
# smplx.vertex_ids['smplh'] (vertex indices of the real SMPL topology).
SMPLX_VERTEX_IDS = {
    'nose': 332,
    'reye': 6260,
    'leye': 2800,
    'rear': 4071,
    'lear': 583,
    'rthumb': 6191,
    'rindex': 5782,
    'rmiddle': 5905,
    'rring': 6016,
    'rpinky': 6133,
    'lthumb': 2746,
    'lindex': 2319,
    'lmiddle': 2445,
    'lring': 2556,
    'lpinky': 2673,
    'LBigToe': 3216,
    'LSmallToe': 3226,
    'LHeel': 3387,
    'RBigToe': 6617,
    'RSmallToe': 6624,
    'RHeel': 6787
}


def _spots() -> Dict[str, tuple]:
    spots = dict(_LEFT_SPOTS)
    for name, right in _RIGHT_NAMES.items():
        part, p = _LEFT_SPOTS[name]
        spots[right] = (_RIGHT_PART[part], (-p[0], p[1], p[2]))
    return spots


def _vertex_order(verts: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Order of the vertices putting each landmark at its smplx index."""
    order = np.arange(len(verts))
    where = np.arange(len(verts))  # current position of each vertex
    chosen = set()
    for name, (p, spot) in sorted(_spots().items()):
        cand = np.nonzero(part == p)[0]
        v = int(cand[np.argmin(np.sum((verts[cand] - spot)**2, 1))])
        if v in chosen:
            raise RuntimeError(f'synthetic body: landmark {name} shares a '
                               f'vertex with another landmark')
        chosen.add(v)
        i, j = where[v], SMPLX_VERTEX_IDS[name]
        order[i], order[j] = order[j], order[i]
        where[order[i]], where[order[j]] = i, j
    return order


def _rest_mean_pose() -> np.ndarray:
    """SPIN-style mean pose ``(144,)``: global orient = pi about x (upright
    in an OpenCV camera), arms lowered ~50 deg, elbows and knees slightly
    bent (assumption: a relaxed standing pose)."""
    aa = np.zeros((24, 3))
    aa[0] = (np.pi, 0, 0)
    aa[16], aa[17] = (0, 0, -0.9), (0, 0, 0.9)
    aa[18], aa[19] = (0, -0.25, 0), (0, 0.25, 0)
    aa[4], aa[5] = (0.1, 0, 0), (0.1, 0, 0)
    aa[1], aa[2] = (-0.05, 0, 0.04), (-0.05, 0, -0.04)
    rot = axis_angle_to_rotmat(torch.from_numpy(aa))
    return rotmat_to_rot6d(rot).reshape(144).numpy().astype(np.float64)


def build_synthetic_body_model(seed: int = 0) -> Dict[str, object]:
    """Build all arrays in memory (no files).

    Returns:
        dict: ``'neutral' / 'male' / 'female'`` -> SMPL model dict,
        ``'joint_regressor_extra'`` (9, 6890), ``'joint_regressor_h36m'``
        (17, 6890), ``'mean_params'`` dict(pose, shape, cam).
    """
    verts, faces, part = build_template_mesh()
    order = _vertex_order(verts, part)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    verts, part, faces = verts[order], part[order], inverse[faces]

    joints = design_joints()
    weights = skinning_weights(verts, faces, part, joints)
    shapedirs = shape_directions(verts, faces, weights, joints)
    posedirs = pose_directions(verts, faces, weights)
    names = constants.SMPL_JOINT_NAMES
    j_reg = regressor(verts, joints, joint_sigmas(), names)
    targets = extra_and_h36m_targets(joints)
    regs = {}
    for key, rows in (('extra', constants.EXTRA_JOINT_NAMES),
                      ('h36m', constants.H36M_JOINT_NAMES)):
        regs[key] = regressor(verts, [targets[key][r][0] for r in rows],
                              [targets[key][r][1] for r in rows], rows)

    rng = np.random.default_rng(seed)
    individual = SEED_BETA_STD * rng.standard_normal(10)
    parents = np.array(constants.SMPL_PARENTS, dtype=np.int64)
    parents[0] = 4294967295  # uint32 -1, as in the official files
    kintree = np.stack([parents, np.arange(24, dtype=np.int64)])
    j_sparse = sp.csc_matrix(j_reg)
    out: Dict[str, object] = {}
    for gender, betas in GENDER_BETAS.items():
        v_template = verts + shapedirs @ (betas + individual)
        out[gender] = {
            'v_template': np.ascontiguousarray(v_template),
            'f': faces.astype(np.uint32),
            'shapedirs': np.ascontiguousarray(shapedirs),
            'posedirs': np.ascontiguousarray(posedirs),
            'J_regressor': j_sparse.copy(),
            'weights': np.ascontiguousarray(weights),
            'kintree_table': kintree.copy(),
            'J': j_reg @ v_template,
            'bs_style': 'lbs',
            'bs_type': 'lrotmin',
        }
    out['joint_regressor_extra'] = regs['extra']
    out['joint_regressor_h36m'] = regs['h36m']
    out['mean_params'] = {
        'pose': _rest_mean_pose(),
        'shape': np.zeros(10),
        'cam': np.array([0.9, 0.0, 0.0]),
    }
    return out


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(
        buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    """Like ``np.savez`` but with fixed zip timestamps (byte-stable)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(
                f'{key}.npy', date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, _npy_bytes(arr))
    return buf.getvalue()


def generate_synthetic_body_model(root: str,
                                  seed: int = 0,
                                  overwrite: bool = False) -> Dict[str, str]:
    """Write the synthetic body model in the official layout under ``root``.

    Args:
        root: Output folder (created if needed).
        seed: Picks the small individual shape offset; same seed, same bytes.
        overwrite: Replace existing files; otherwise an existing file raises.

    Returns:
        dict: ``neutral, male, female, joint_regressor_extra,
        joint_regressor_h36m, mean_params, version`` -> written path.

    Raises:
        FileExistsError: a target file exists and ``overwrite`` is False.
    """
    paths = {k: osp.join(root, rel) for k, rel in FILES.items()}
    paths['version'] = osp.join(root, VERSION_FILE)
    if not overwrite:
        for path in paths.values():
            if osp.exists(path):
                raise FileExistsError(
                    f'{path} exists; pass overwrite=True (or --overwrite) '
                    f'to replace the body model in {root}')
    model = build_synthetic_body_model(seed)
    for gender in ('neutral', 'male', 'female'):
        _atomic_write(paths[gender], pickle.dumps(model[gender], protocol=2))
    for key in ('joint_regressor_extra', 'joint_regressor_h36m'):
        _atomic_write(paths[key], _npy_bytes(model[key]))
    _atomic_write(paths['mean_params'], _npz_bytes(model['mean_params']))
    _atomic_write(paths['version'],
                  f'{GENERATOR_VERSION} seed={seed}\n'.encode())
    return paths


def ensure_synthetic_body_model(root: str = 'data/body_models_synthetic'
                                ) -> str:
    """Generate the synthetic model under ``root`` unless it is complete and
    was written by this generator version; returns ``root``."""
    marker = osp.join(root, VERSION_FILE)
    complete = all(osp.isfile(osp.join(root, rel)) for rel in FILES.values())
    current = False
    if complete and osp.isfile(marker):
        with open(marker) as f:
            current = f.read().split(' ')[0].strip() == GENERATOR_VERSION
    if not (complete and current):
        generate_synthetic_body_model(root, overwrite=True)
    return root
