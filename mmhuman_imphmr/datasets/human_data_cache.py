"""Per-file cache of a HumanData ``.npz`` as memory-mappable ``.npy`` arrays.

Why a cache: an ``.npz`` member cannot be memory-mapped (``np.load(npz,
mmap_mode='r')`` ignores ``mmap_mode`` for archives, and the members are
deflate-compressed), and ``NpzFile[key]`` decompresses the *whole* member on
every access, so reading one sample per key costs O(N). Loading every array
once instead costs each dataloader worker a private copy (copy-on-write pages
get touched by refcounts). So the file is converted once into plain ``.npy``
arrays, already mapped to SPIN's 49 joints and float32, and every process
opens them with ``mmap_mode='r'``: the OS page cache holds one copy shared by
all workers and ranks. See ``docs/data_preparation.md`` for measured timings.

Cache layout (``<cache_root>/<stem>-<hash>/``; the hash covers the absolute
path, size and mtime of the source, the convention and :data:`CACHE_VERSION`):
``image_path.npy`` (N,) str, ``bbox_xywh.npy`` (N, 4), ``bbox_score.npy``
(N,), ``keypoints2d.npy`` (N, 49, 3), ``keypoints3d.npy`` (N, 24, 4),
``global_orient.npy`` (N, 3), ``body_pose.npy`` (N, 69), ``betas.npy``
(N, 10), ``has_smpl.npy`` / ``has_kp3d.npy`` (N,) uint8, ``gender.npy`` (N,)
int8 (index into :data:`GENDERS`), ``done.json``.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np
from mmengine.logging import print_log

from mmhuman_imphmr.utils.constants import NUM_BETAS, NUM_GT_JOINTS, NUM_JOINTS
from .human_data_io import (RefusedPickleError, iter_array_chunks,
                            load_human_data, member_shape, npz_keys)
from .keypoint_mapping import (CONVENTIONS, decompress_keypoints,
                               num_keypoints, to_smpl49)

CACHE_VERSION = 1
GENDERS = ('neutral', 'male', 'female')
_GENDER_CODES = {
    'neutral': 0,
    'n': 0,
    '': 0,
    'male': 1,
    'm': 1,
    'female': 2,
    'f': 2
}
# SPIN / PARE (``datasets/base_dataset.py``) code genders as integers:
# ``0 if str(g) == 'm' else 1``, and -1 for a dataset without genders.
_SPIN_GENDER_CODES = {0: 'male', 1: 'female', -1: 'neutral'}
_SPIN_HELP = '0 = male, 1 = female, -1 = no gender (neutral)'
CACHE_KEYS = ('image_path', 'bbox_xywh', 'bbox_score', 'keypoints2d',
              'keypoints3d', 'global_orient', 'body_pose', 'betas', 'has_smpl',
              'has_kp3d', 'gender')


class HumanDataError(ValueError):
    """A HumanData file is missing a key or has a bad value."""


def _fail(path: str, key: str, problem: str) -> HumanDataError:
    return HumanDataError(f'{path}: key "{key}": {problem}')


def _check_finite(path: str, key: str, arr: np.ndarray, start: int) -> None:
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    if bad.any():
        raise _fail(
            path, key, f'NaN/Inf at sample index '
            f'{start + int(np.argmax(bad))}')


def cache_folder(ann_file: str,
                 convention: str,
                 cache_root: Optional[str] = None) -> str:
    """Where the cache of ``ann_file`` lives (not necessarily built yet)."""
    ann_file = osp.abspath(ann_file)
    stat = os.stat(ann_file)
    tag = f'{ann_file}|{stat.st_size}|{stat.st_mtime_ns}|{convention}|' \
          f'{CACHE_VERSION}'
    digest = hashlib.sha1(tag.encode()).hexdigest()[:12]
    stem = osp.splitext(osp.basename(ann_file))[0]
    if cache_root is None:
        cache_root = osp.join(osp.dirname(ann_file), '.humandata_cache')
        if not os.access(osp.dirname(ann_file), os.W_OK):
            cache_root = osp.join(
                osp.expanduser('~'), '.cache', 'mmhuman_imphmr', 'humandata')
    return osp.join(cache_root, f'{stem}-{digest}')


def _convention_of(path: str, small: dict, key: str,
                   requested: Optional[str]) -> str:
    recorded = small.get(f'{key}_convention')
    if recorded is not None and requested is not None and \
            recorded != requested:
        raise _fail(
            path, f'{key}_convention', f'file says {recorded!r} '
            f'but keypoint_convention={requested!r} was requested')
    convention = recorded or requested or 'human_data'
    if convention not in CONVENTIONS:
        raise _fail(
            path, f'{key}_convention', f'{convention!r} not '
            f'supported (supported: {sorted(CONVENTIONS)})')
    return convention


def _write_keypoints(path: str, key: str, small: dict, num: int,
                     convention: str, out: np.ndarray) -> None:
    """Stream ``key`` through decompression and the map to 49 into ``out``."""
    channels = 3 if key == 'keypoints2d' else 4
    shape, _ = member_shape(path, key)
    mask = small.get(f'{key}_mask')
    full = num_keypoints(convention)
    compressed = bool(small.get('__keypoints_compressed__', False))
    if mask is not None and np.asarray(mask).size != full:
        raise _fail(
            path, f'{key}_mask', f'expected ({full},) for convention '
            f'{convention!r}, found {np.asarray(mask).shape}')
    width = int((np.asarray(mask) > 0).sum()) if compressed and \
        mask is not None else full
    if shape != (num, width, channels):
        raise _fail(
            path, key, f'expected shape ({num}, {width}, {channels}) '
            f'(convention {convention!r}'
            f'{", compressed" if compressed else ""}), found {shape}')
    start = 0
    for chunk in iter_array_chunks(path, key):
        _check_finite(path, key, chunk, start)
        if compressed and mask is not None:
            chunk = decompress_keypoints(chunk, mask)
        kps49, _ = to_smpl49(chunk.astype(np.float32), convention, mask)
        out[start:start + len(chunk)] = kps49 if key == 'keypoints2d' \
            else kps49[:, NUM_JOINTS - NUM_GT_JOINTS:]
        start += len(chunk)


def _smpl_params(path: str, small: dict, num: int) -> Optional[dict]:
    smpl = small.get('smpl')
    if smpl is None:  # flattened keys: smpl_global_orient, ...
        flat = {
            k[5:]: small[k]
            for k in ('smpl_global_orient', 'smpl_body_pose', 'smpl_betas')
            if k in small
        }
        smpl = flat or None
    if smpl is None:
        return None
    if not isinstance(smpl, dict):
        raise _fail(path, 'smpl', f'expected a dict, found {type(smpl)}')
    expected = dict(
        global_orient=[(num, 3), (num, 1, 3)],
        body_pose=[(num, 69), (num, 23, 3)],
        betas=[(num, NUM_BETAS)])
    out = {}
    for name, shapes in expected.items():
        if name not in smpl:
            raise _fail(path, f'smpl.{name}', f'missing (found keys '
                        f'{sorted(smpl)})')
        value = np.asarray(smpl[name])
        if name == 'betas' and value.ndim == 2 and value.shape[0] == num \
                and value.shape[1] > NUM_BETAS:
            value = value[:, :NUM_BETAS]  # keep the first 10 components
        if value.shape not in shapes:
            raise _fail(path, f'smpl.{name}', f'expected one of {shapes}, '
                        f'found {value.shape}')
        value = value.reshape(num, -1).astype(np.float32)
        _check_finite(path, f'smpl.{name}', value, 0)
        out[name] = value
    return out


def _gender_code(path: str, value) -> tuple:
    """``(code into GENDERS, was_integer)`` of one raw gender entry.

    Text (``'m'``, ``'female'``, ...) is read by name. Integer codes (ints,
    integral floats, or strings of them, as ``astype(str)`` of SPIN/PARE
    arrays gives) follow SPIN / PARE (``datasets/base_dataset.py``: 0 =
    male, 1 = female, -1 = the file had no gender) -- never this module's own
    order, where 0 would be neutral.
    """
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (bool, np.bool_)):
        raise _fail(
            path, 'meta.gender', f'boolean gender {value!r} is '
            f'ambiguous; write "m"/"f" or SPIN\'s integer codes')
    number = None
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    else:
        text = str(value).strip().lower()
        if text in _GENDER_CODES:
            return _GENDER_CODES[text], False
        try:
            number = float(text)
        except ValueError:
            raise _fail(
                path, 'meta.gender', f'unknown gender {value!r} '
                f'(expected one of {sorted(_GENDER_CODES)}, or '
                f'SPIN/PARE integer codes {_SPIN_HELP})') from None
    if not np.isfinite(number) or number != int(number) or \
            int(number) not in _SPIN_GENDER_CODES:
        raise _fail(
            path, 'meta.gender', f'unknown integer gender code '
            f'{value!r}: integer codes are read as SPIN/PARE\'s '
            f'{_SPIN_HELP}; convert the file\'s genders to "m"/"f"')
    return _GENDER_CODES[_SPIN_GENDER_CODES[int(number)]], True


def _genders(path: str, small: dict, num: int) -> np.ndarray:
    meta = small.get('meta') or {}
    raw = meta.get('gender') if isinstance(meta, dict) else None
    if raw is None:
        raw = small.get('gender')
    if raw is None:
        return np.zeros(num, np.int8)
    raw = np.asarray(raw).reshape(-1)
    if raw.size != num:
        raise _fail(path, 'meta.gender', f'expected {num} entries, found '
                    f'{raw.size}')
    codes = np.zeros(num, np.int8)
    integer = False
    try:
        values = np.unique(raw)
    except TypeError:  # an object array of mixed types cannot be sorted
        values = list(dict.fromkeys(raw.tolist()))
    for value in values:
        code, was_integer = _gender_code(path, value)
        integer |= was_integer
        codes[raw == value] = code
    if integer:
        print_log(
            f'{path}: meta.gender holds integer codes; read with '
            f'SPIN/PARE\'s convention {_SPIN_HELP}',
            logger='current',
            level=logging.INFO)
    return codes


def build_cache(ann_file: str,
                folder: str,
                convention: Optional[str] = None) -> None:
    """Validate ``ann_file`` and write its cache into ``folder`` atomically.

    Raises:
        HumanDataError: a required key is missing, or a key has a wrong shape
            or NaN/Inf values (the message names file, key, expected/found,
            and the sample index for NaN/Inf).
    """
    path = ann_file
    keys = set(npz_keys(path))
    for required in ('image_path', 'bbox_xywh'):
        if required not in keys:
            raise _fail(path, required, f'missing (found keys {sorted(keys)})')
    small = load_human_data(
        path,
        keys=[
            k for k in keys
            if k not in ('keypoints2d', 'keypoints3d', 'bbox_xywh')
        ])
    image_path = np.asarray(small['image_path']).astype(str).reshape(-1)
    num = image_path.size
    if num == 0:
        raise _fail(path, 'image_path', 'the file has 0 samples')
    bbox = load_human_data(path, keys=['bbox_xywh'])['bbox_xywh']
    if bbox.shape not in ((num, 4), (num, 5)):
        raise _fail(
            path, 'bbox_xywh', f'expected ({num}, 5) or ({num}, 4), '
            f'found {bbox.shape}')
    _check_finite(path, 'bbox_xywh', bbox, 0)
    smpl = _smpl_params(path, small, num)
    if 'has_smpl' in small:
        has_smpl = np.asarray(small['has_smpl']).reshape(-1)
        if has_smpl.size != num:
            raise _fail(
                path, 'has_smpl', f'expected ({num},), found '
                f'{np.asarray(small["has_smpl"]).shape}')
        has_smpl = np.logical_and(has_smpl > 0, smpl
                                  is not None).astype(np.uint8)
    else:
        has_smpl = np.full(num, smpl is not None, np.uint8)

    os.makedirs(osp.dirname(folder) or '.', exist_ok=True)
    tmp = tempfile.mkdtemp(
        prefix=osp.basename(folder) + '.tmp-', dir=osp.dirname(folder) or '.')
    try:

        def create(name, shape, dtype):
            return np.lib.format.open_memmap(
                osp.join(tmp, f'{name}.npy'),
                mode='w+',
                dtype=dtype,
                shape=shape)

        np.save(osp.join(tmp, 'image_path.npy'), image_path)
        np.save(osp.join(tmp, 'bbox_xywh.npy'), bbox[:, :4].astype(np.float32))
        np.save(
            osp.join(tmp, 'bbox_score.npy'),
            (bbox[:, 4] if bbox.shape[1] == 5 else np.ones(num)).astype(
                np.float32))
        kp2d = create('keypoints2d', (num, NUM_JOINTS, 3), np.float32)
        if 'keypoints2d' in keys:
            _write_keypoints(
                path, 'keypoints2d', small, num,
                _convention_of(path, small, 'keypoints2d', convention), kp2d)
        else:
            kp2d[:] = 0
        kp3d = create('keypoints3d', (num, NUM_GT_JOINTS, 4), np.float32)
        if 'keypoints3d' in keys:
            _write_keypoints(
                path, 'keypoints3d', small, num,
                _convention_of(path, small, 'keypoints3d', convention), kp3d)
        else:
            kp3d[:] = 0
        np.save(
            osp.join(tmp, 'has_kp3d.npy'), (kp3d[..., 3]
                                            > 0).any(axis=1).astype(np.uint8))
        del kp2d, kp3d  # flush the memory maps
        sizes = dict(global_orient=3, body_pose=69, betas=NUM_BETAS)
        for name, size in sizes.items():
            value = smpl[name] if smpl is not None else np.zeros(
                (num, size), np.float32)
            np.save(osp.join(tmp, f'{name}.npy'), value)
        np.save(osp.join(tmp, 'has_smpl.npy'), has_smpl)
        np.save(osp.join(tmp, 'gender.npy'), _genders(path, small, num))
        with open(osp.join(tmp, 'done.json'), 'w') as f:
            json.dump(
                dict(
                    source=osp.abspath(path),
                    num_samples=num,
                    version=CACHE_VERSION), f)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first: keep its copy
            if not osp.isfile(osp.join(folder, 'done.json')):
                raise
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def open_cache(folder: str) -> Dict[str, np.ndarray]:
    """Open every cached array read-only with ``mmap_mode='r'``."""
    return {
        k: np.load(osp.join(folder, f'{k}.npy'), mmap_mode='r')
        for k in CACHE_KEYS
    }


def load_or_build_cache(ann_file: str,
                        convention: Optional[str] = None,
                        cache_root: Optional[str] = None) -> str:
    """Return the cache folder of ``ann_file``, building it when missing.

    Every rank/process may call this at once: each builds into its own
    temporary folder and renames it into place; the first rename wins.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'HumanData file not found: {ann_file} (see '
                                f'docs/data_preparation.md)')
    folder = cache_folder(ann_file, convention or 'file', cache_root)
    if not osp.isfile(osp.join(folder, 'done.json')):
        try:
            build_cache(ann_file, folder, convention)
        except RefusedPickleError as exc:  # an object member was refused
            raise HumanDataError(str(exc)) from None
    return folder
