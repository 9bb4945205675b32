"""Generate the embedded synthetic dataset (images + HumanData ``.npz``).

Each image shows one body of the synthetic SMPL-format model
(``body_models.synthetic``) in a random plausible pose (:mod:`.pose_sampler`),
random shape and any azimuth, coloured per body part with Lambertian shading
(:class:`~mmhuman_imphmr.renderer.MeshRasterizer`, shaded by
:func:`~mmhuman_imphmr.renderer.shading.shade_fragments` with a light and an
ambient share per image), over a random background,
at a random scale and offset. The labels are written in the HumanData schema,
so the files go through :class:`HumanImageDataset` and the same pipeline as
real data. Layout under ``out_dir``::

    images/train/000000.jpg ...      JPEG, quality 95, S x S
    images/val/000000.jpg ...
    synthetic_train.npz              HumanData, studio ('gt3d') samples
    synthetic_train_wild.npz         HumanData, in-the-wild samples (only
                                     with ``wild_fraction > 0``)
    synthetic_val.npz
    manifest.json                    generation arguments (written last)

In-the-wild samples: with ``wild_fraction > 0`` a share of the *training*
images (never validation) is labelled like EFT data (``'pseudo_smpl'``):
the image is rendered from the exact ground truth, exactly as a studio
image, but its file (``synthetic_train_wild.npz``) carries SMPL parameters
perturbed by random noise (a stand-in for fitting error), the exact 2D
keypoints of the true mesh (like human 2D annotations) and no 3D joints.
Which image is wild and its noise come from a second generator per image,
keyed by ``(seed, split, index, 1)``, so the images, and with
``wild_fraction = 0`` every output file, are those of a run without the
feature, and the studio file is the studio rows of such a run.

Camera: a pinhole at the origin, OpenCV axes, focal ``focal_ratio * S``,
principal point at the image centre. Pixel coordinates in the files follow
mmpose/OpenCV (pixel centres at integers), i.e. ``u = f x / z + S/2 - 0.5``.
Ground truth is from the neutral model (``meta.gender = 'neutral'``): the
images are rendered from it, so gendered evaluation would be wrong here.
"""
import json
import multiprocessing as mp
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
import torch
from tqdm import tqdm

from mmhuman_imphmr.datasets.human_data_io import save_human_data
from mmhuman_imphmr.renderer.shading import shade_fragments
from mmhuman_imphmr.utils.constants import (NUM_BETAS, NUM_JOINTS,
                                            NUM_OPENPOSE_JOINTS)
from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                           rotmat_to_axis_angle)
from .appearance import (sample_background, sample_part_colors, vertex_colors,
                         vertex_parts)
from .pose_sampler import (global_orient_from_angles, sample_betas,
                           sample_body_pose, sample_view_angles)

SPLITS = ('train', 'val')
GENERATOR_VERSION = 2  # 2: face/hair and front print colours
BBOX_EXPANSION = 1.2  # SPIN's scaleFactor: boxes are 1.2 x the tight box
WILD_FILE = 'synthetic_train_wild.npz'  # in-the-wild training samples


def _sample_params(seed: int, split: str, index: int, image_size: int,
                   focal: float) -> Dict[str, np.ndarray]:
    """Everything random about one image, from its own generator.

    One generator per image (keyed by seed, split and index) makes the output
    independent of the batch size.
    """
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    yaw, tilt = sample_view_angles(rng)  # global_orient: batched, renderer
    return dict(
        yaw=np.float64(yaw),
        tilt=tilt,
        body_pose=sample_body_pose(rng),
        betas=sample_betas(rng),
        palette=sample_part_colors(rng),
        background=sample_background(rng, image_size),
        # Fraction of the image the person's larger side fills, and where
        # its centre goes (as a fraction of the free margin).
        fill=np.float32(rng.uniform(0.45, 0.9)),
        offset=rng.uniform(-1.0, 1.0, 2).astype(np.float32),
        light=np.array([rng.uniform(-0.6, 0.6),
                        rng.uniform(-0.2, 0.7), 1.0], np.float32),
        ambient=np.float32(rng.uniform(0.3, 0.6)))


def _sample_wild(seed: int, split: str, index: int,
                 wild: Dict[str, float]) -> Tuple[bool, Dict[str, np.ndarray]]:
    """Whether one image is in-the-wild, and its label noise.

    Drawn from a generator of its own (keyed by seed, split, index and 1),
    never from the one of :func:`_sample_params`, so that the images do not
    depend on the wild settings. The draws are the same for every setting
    (standard normals scaled by the noise levels), so raising
    ``wild_fraction`` only adds wild samples.

    Args:
        wild (dict): ``wild_fraction`` and the three ``pseudo_*_noise``
            settings of :func:`generate_synthetic_dataset`.

    Returns:
        tuple: ``(is_wild, noise)``; ``noise``: ``global_orient`` ndarray[3]
        and ``body_pose`` ndarray[23, 3] (axis-angle of the noise rotations),
        ``betas`` ndarray[10] (offsets); float64.
    """
    rng = np.random.default_rng([seed, SPLITS.index(split), index, 1])
    is_wild = split == 'train' and rng.random() < wild['wild_fraction']
    noise = dict(
        global_orient=rng.standard_normal(3) * wild['pseudo_orient_noise'],
        body_pose=rng.standard_normal((23, 3)) * wild['pseudo_pose_noise'],
        betas=rng.standard_normal(NUM_BETAS) * wild['pseudo_betas_noise'])
    return bool(is_wild), noise


def _perturb(global_orient: np.ndarray, body_pose: np.ndarray,
             betas: np.ndarray, noise: list) -> Dict[str, np.ndarray]:
    """Pseudo labels: the exact SMPL parameters with noise, batched.

    Rotations are composed as matrices, ``R = R_noise @ R_exact`` (the noise
    rotation applied after the exact one, i.e. about the axes of the parent
    frame: the camera for the root, the parent joint for a body joint); shape
    noise is added to the betas (no clipping).

    Args:
        global_orient (ndarray[B, 3]), body_pose (ndarray[B, 69]), betas
        (ndarray[B, 10]): The exact parameters.
        noise (list[dict]): :func:`_sample_wild` noise of each sample.

    Returns:
        dict: ``global_orient`` [B, 3], ``body_pose`` [B, 69], ``betas``
        [B, 10], float32.
    """

    def compose(exact: np.ndarray, key: str) -> np.ndarray:
        delta = np.stack([n[key] for n in noise]).reshape(-1, 3)
        rot = axis_angle_to_rotmat(torch.from_numpy(delta)) @ \
            axis_angle_to_rotmat(torch.from_numpy(
                exact.astype(np.float64).reshape(-1, 3)))
        return rotmat_to_axis_angle(rot).numpy().reshape(exact.shape)

    shift = np.stack([n['betas'] for n in noise]).reshape(betas.shape)
    pseudo = dict(
        global_orient=compose(global_orient, 'global_orient'),
        body_pose=compose(body_pose, 'body_pose'),
        betas=betas.astype(np.float64) + shift)
    return {k: v.astype(np.float32) for k, v in pseudo.items()}


class _Renderer:
    """Body model + rasterizer, built once per generation run."""

    def __init__(self, body_model_root: str, image_size: int,
                 focal: float) -> None:
        from mmhuman_imphmr.body_models import SMPL
        from mmhuman_imphmr.body_models.synthetic import \
            ensure_synthetic_body_model
        from mmhuman_imphmr.renderer import MeshRasterizer
        root = ensure_synthetic_body_model(body_model_root)
        self.body_model = SMPL(model_path=root, gender='neutral').eval()
        self.faces = self.body_model.faces_tensor
        weights = self.body_model.smpl.lbs_weights.detach().cpu().numpy()
        self.parts = vertex_parts(
            weights,
            self.body_model.smpl.v_template.detach().cpu().numpy())
        self.rasterizer = MeshRasterizer(
            image_size=image_size, focal_length=focal)
        self.size, self.focal = image_size, focal

    @torch.no_grad()
    def __call__(self, params: list) -> Dict[str, np.ndarray]:
        orient = global_orient_from_angles(
            np.array([p['yaw'] for p in params]),
            np.stack([p['tilt'] for p in params]))
        stack = {
            k: torch.from_numpy(np.stack([p[k] for p in params]))
            for k in ('body_pose', 'betas')
        }
        stack['global_orient'] = torch.from_numpy(orient)
        out = self.body_model(stack['global_orient'], stack['body_pose'],
                              stack['betas'])
        verts, joints = out['vertices'], out['joints']  # (B, V, 3), (B, 49, 3)
        transl = self._place(verts, params)
        verts = verts + transl[:, None]
        joints = joints + transl[:, None]
        colors = torch.from_numpy(
            np.stack([vertex_colors(self.parts, p['palette'])
                      for p in params]))
        background = torch.from_numpy(
            np.stack([p['background'] for p in params]))
        fragments = self.rasterizer.rasterize(verts, self.faces)
        light = torch.from_numpy(np.stack([p['light'] for p in params]))
        ambient = torch.tensor([float(p['ambient']) for p in params])
        # One light and ambient share per image (renderer/shading.py).
        shaded = shade_fragments(
            fragments,
            verts,
            self.faces,
            colors,
            background=background,
            light_direction=light,
            ambient=ambient)
        return dict(
            image=shaded['image'].numpy(),
            mask=shaded['mask'].numpy(),
            vertices=verts.numpy(),
            joints=joints.numpy(),
            transl=transl.numpy(),
            global_orient=orient)

    def _place(self, verts: torch.Tensor, params: list) -> torch.Tensor:
        """Camera translation putting each body at its scale and offset."""
        lo, hi = verts[..., :2].amin(1), verts[..., :2].amax(1)  # (B, 2)
        extent = (hi - lo).amax(1)  # metres
        mid = 0.5 * (lo + hi)
        fill = torch.tensor([float(p['fill']) for p in params])
        offset = torch.from_numpy(np.stack([p['offset'] for p in params]))
        depth = self.focal * extent / (fill * self.size)
        # Centre shift in pixels: up to the free margin, plus 5% of the image
        # so that some people are truncated by the border.
        margin = 0.5 * (1.0 - fill) * self.size + 0.05 * self.size
        shift_px = offset * margin[:, None]
        xy = shift_px * depth[:, None] / self.focal - mid
        return torch.cat([xy, depth[:, None]], 1)


def _labels(rendered: Dict[str, np.ndarray], size: int,
            focal: float) -> Dict[str, np.ndarray]:
    """2D/3D keypoints and boxes of a rendered batch."""
    joints = rendered['joints']  # (B, 49, 3), camera frame
    centre = size / 2.0 - 0.5  # pixel-centre-at-integer convention
    uv = focal * joints[..., :2] / joints[..., 2:3] + centre
    inside = ((uv >= 0) & (uv <= size - 1)).all(-1).astype(np.float32)
    kp2d = np.concatenate([uv, inside[..., None]], -1)
    kp3d = np.concatenate([
        joints[:, NUM_OPENPOSE_JOINTS:],
        np.ones_like(joints[:, NUM_OPENPOSE_JOINTS:, :1])
    ], -1)
    verts = rendered['vertices']
    vuv = focal * verts[..., :2] / verts[..., 2:3] + centre
    vuv = np.clip(vuv, 0, size - 1)  # the visible part of the person
    lo, hi = vuv.min(1), vuv.max(1)
    side = BBOX_EXPANSION * (hi - lo).max(1)
    mid = 0.5 * (lo + hi)
    bbox = np.stack([
        mid[:, 0] - side / 2, mid[:, 1] - side / 2, side, side,
        np.ones_like(side)
    ], 1)
    return dict(
        keypoints2d=kp2d.astype(np.float32),
        keypoints3d=kp3d.astype(np.float32),
        bbox_xywh=bbox.astype(np.float32))


# State of a generation run, shared with forked worker processes (set by
# ``_generate_split`` before the pool starts; the children inherit it).
_RUN: Dict[str, object] = {}


def _render_batch(task: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """Render images ``start:stop`` of the current run, write their JPEGs and
    return their labels (runs in the parent or in a worker process)."""
    start, stop = task
    renderer: _Renderer = _RUN['renderer']
    out_dir, split, seed = _RUN['out_dir'], _RUN['split'], _RUN['seed']
    size, focal = renderer.size, renderer.focal
    params = [
        _sample_params(seed, split, i, size, focal)
        for i in range(start, stop)
    ]
    rendered = renderer(params)
    labels = _labels(rendered, size, focal)
    images = np.rint(rendered['image'] * 255).astype(np.uint8)
    for j, i in enumerate(range(start, stop)):
        path = osp.join(out_dir, 'images', split, f'{i:06d}.jpg')
        if not cv2.imwrite(path, images[j, ..., ::-1],
                           [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f'synthetic generator: cannot write {path}')
    for k in ('body_pose', 'betas'):
        labels[k] = np.stack([p[k] for p in params])
    labels['global_orient'] = rendered['global_orient']
    labels['transl'] = rendered['transl']
    wild = _RUN['wild']
    if wild['wild_fraction'] > 0 and split == 'train':
        draws = [
            _sample_wild(seed, split, i, wild) for i in range(start, stop)
        ]
        labels['wild'] = np.array([w for w, _ in draws], bool)
        pseudo = _perturb(labels['global_orient'], labels['body_pose'],
                          labels['betas'], [n for _, n in draws])
        for k, v in pseudo.items():
            labels[f'pseudo_{k}'] = v
    return labels


def _init_worker() -> None:
    """Pool initializer: one intra-op thread per worker process (the
    processes already use every core; more threads only contend). OpenCV's
    thread count is set in the parent before the fork: reconfiguring an
    inherited OpenCV thread pool in a forked child can deadlock."""
    torch.set_num_threads(1)


def _pool(workers: int, num_tasks: int):
    """A pool of forked workers, or None when rendering in-process is better
    (one worker or task, no ``fork`` start method, or a daemonic process,
    e.g. a dataloader worker, which may not have children)."""
    workers = min(workers, num_tasks)
    if (workers <= 1 or 'fork' not in mp.get_all_start_methods()
            or mp.current_process().daemon):
        return None
    # fork: the children inherit the imported modules and the built body
    # model, so they start in milliseconds (spawn would re-import torch).
    return mp.get_context('fork').Pool(workers, initializer=_init_worker)


def _generate_split(renderer: _Renderer, out_dir: str, split: str, num: int,
                    seed: int, batch_size: int, workers: int,
                    wild: Dict[str, float]) -> Dict[str, str]:
    """Render one split and write its file(s); returns name -> path
    (``split``, and ``'train_wild'`` for the training split with
    ``wild_fraction > 0``)."""
    size, focal = renderer.size, renderer.focal
    os.makedirs(osp.join(out_dir, 'images', split), exist_ok=True)
    keys = ('global_orient', 'body_pose', 'betas', 'transl', 'keypoints2d',
            'keypoints3d', 'bbox_xywh')
    # Start every list with an empty row block so that num == 0 works.
    empty_shapes = dict(
        global_orient=(0, 3),
        body_pose=(0, 69),
        betas=(0, 10),
        transl=(0, 3),
        keypoints2d=(0, NUM_JOINTS, 3),
        keypoints3d=(0, NUM_JOINTS - NUM_OPENPOSE_JOINTS, 4),
        bbox_xywh=(0, 5))
    # Only training samples may be wild: val files are as without it.
    with_wild = wild['wild_fraction'] > 0 and split == 'train'
    if with_wild:
        keys += ('pseudo_global_orient', 'pseudo_body_pose', 'pseudo_betas')
        empty_shapes.update(
            pseudo_global_orient=(0, 3),
            pseudo_body_pose=(0, 69),
            pseudo_betas=(0, 10))
    acc = {k: [np.zeros(empty_shapes[k], np.float32)] for k in keys}
    is_wild = [np.zeros(0, bool)]
    # Batch boundaries depend on batch_size only, never on the number of
    # workers, so that any worker count gives the same bytes.
    tasks = [(start, min(num, start + batch_size))
             for start in range(0, num, batch_size)]
    _RUN.update(
        renderer=renderer, out_dir=out_dir, split=split, seed=seed, wild=wild)
    pool = _pool(workers, len(tasks))
    try:
        results = pool.imap(_render_batch, tasks) if pool else map(
            _render_batch, tasks)
        with tqdm(
                total=num, desc=f'synthetic {split}', unit='img',
                leave=False) as bar:
            for labels in results:  # in task order
                for k in keys:
                    acc[k].append(labels[k])
                if with_wild:
                    is_wild.append(labels['wild'])
                bar.update(len(labels['bbox_xywh']))
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        if pool is not None:
            pool.terminate()  # no-op after join; stops workers on errors
        _RUN.clear()
    arr = {k: np.concatenate(v).astype(np.float32) for k, v in acc.items()}
    wild_mask = np.concatenate(is_wild) if with_wild else np.zeros(num, bool)
    # Wild settings in `misc` only when used: without them the files are
    # those of a generator without the feature.
    misc = dict(
        focal_length=focal,
        principal_point=(size / 2.0 - 0.5, size / 2.0 - 0.5),
        image_size=size,
        seed=seed,
        generator_version=GENERATOR_VERSION)
    if with_wild:
        misc.update(wild)
    files = {split: osp.join(out_dir, f'synthetic_{split}.npz')}
    _save_split(files[split], split, np.flatnonzero(~wild_mask), arr, misc)
    if with_wild:
        files['train_wild'] = osp.join(out_dir, WILD_FILE)
        _save_split(
            files['train_wild'],
            split,
            np.flatnonzero(wild_mask),
            arr,
            dict(misc, subset='wild'),
            wild=True)
    return files


def _save_split(ann_file: str,
                split: str,
                index: np.ndarray,
                arr: Dict[str, np.ndarray],
                misc: dict,
                wild: bool = False) -> None:
    """Write the samples ``index`` of a split as one HumanData file.

    Studio samples: exact SMPL and 3D joints. Wild ones (``wild=True``): the
    perturbed SMPL (``pseudo_*``, ``transl`` kept), no ``keypoints3d`` key.
    Both: exact 2D keypoints, boxes, neutral gender.
    """
    prefix = 'pseudo_' if wild else ''
    data = dict(
        image_path=np.array([f'images/{split}/{i:06d}.jpg' for i in index]),
        bbox_xywh=arr['bbox_xywh'][index],
        keypoints2d=arr['keypoints2d'][index],
        keypoints2d_mask=np.ones(NUM_JOINTS, np.uint8),
        keypoints2d_convention='smpl_49')
    if not wild:
        data.update(
            keypoints3d=arr['keypoints3d'][index],
            keypoints3d_mask=np.ones(NUM_JOINTS - NUM_OPENPOSE_JOINTS,
                                     np.uint8),
            keypoints3d_convention='smpl_24')
    data.update(
        smpl=dict(
            global_orient=arr[prefix + 'global_orient'][index],
            body_pose=arr[prefix + 'body_pose'][index].reshape(-1, 23, 3),
            betas=arr[prefix + 'betas'][index],
            transl=arr['transl'][index]),
        meta=dict(gender=np.array(['neutral'] * len(index))),
        config='synthetic',
        misc=misc)
    save_human_data(ann_file, data)


def _check_wild_args(wild_fraction: float, pseudo_orient_noise: float,
                     pseudo_pose_noise: float,
                     pseudo_betas_noise: float) -> Dict[str, float]:
    """The wild settings as floats, or a ValueError naming the bad one."""
    wild = dict(
        wild_fraction=wild_fraction,
        pseudo_orient_noise=pseudo_orient_noise,
        pseudo_pose_noise=pseudo_pose_noise,
        pseudo_betas_noise=pseudo_betas_noise)
    for name, value in wild.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f'generate_synthetic_dataset: {name} must be a '
                             f'number, found {value!r}') from None
        if name == 'wild_fraction':
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f'generate_synthetic_dataset: need 0 <= '
                                 f'wild_fraction <= 1, found {value!r}')
        elif not (value >= 0.0 and np.isfinite(value)):
            raise ValueError(f'generate_synthetic_dataset: need a finite '
                             f'{name} >= 0 (radians for the rotations), '
                             f'found {value!r}')
        wild[name] = value
    return wild


def generate_synthetic_dataset(
        out_dir: str = 'data/synthetic',
        num_train: int = 2000,
        num_val: int = 200,
        image_size: int = 128,
        seed: int = 0,
        body_model_root: str = 'data/body_models_synthetic',
        focal_ratio: float = 1.75,
        batch_size: int = 32,
        workers: Optional[int] = None,
        wild_fraction: float = 0.0,
        pseudo_orient_noise: float = 0.1,
        pseudo_pose_noise: float = 0.15,
        pseudo_betas_noise: float = 0.5) -> Dict[str, str]:
    """Render the synthetic dataset; the same arguments give the same bytes.

    Rendering runs single-threaded in each of ``workers`` forked processes
    (batches are spread over them, images keep their own random generators),
    so the number of workers does not change the output.

    Args:
        out_dir (str): Output folder (see the module docstring).
        num_train (int): Training images. Defaults to 2000.
        num_val (int): Validation images. Defaults to 200.
        image_size (int): Side ``S`` of the square images. Defaults to 128.
        seed (int): Random seed. Defaults to 0.
        body_model_root (str): Synthetic body-model root, generated when
            missing. Defaults to ``'data/body_models_synthetic'``.
        focal_ratio (float): Focal length over image side (1.75: a 32 degree
            field of view, an assumption close to a normal photo lens).
        batch_size (int): Bodies posed per batch. Speed only, but float
            rounding of the batched body model may differ between sizes.
        workers (int, optional): Rendering processes. Defaults to the number
            of CPU cores this process may use. 1 renders in-process.
        wild_fraction (float): Expected share of the *training* images
            labelled in-the-wild (each is, independently, with this
            probability; validation never is), in ``[0, 1]``. They go to
            ``synthetic_train_wild.npz`` with pseudo labels (see the module
            docstring) instead of ``synthetic_train.npz``. Defaults to 0: no
            wild file (a stale one in ``out_dir`` is removed), and every
            file as without the feature.
        pseudo_orient_noise (float): Std (radians) of each axis-angle
            component of a random rotation composed onto a wild sample's
            global orientation, as matrices: ``R = R_noise @ R_exact``.
            Defaults to 0.1.
        pseudo_pose_noise (float): The same for each of the 23 body joints
            (``R_j = R_noise_j @ R_exact_j``, not a sum of axis-angle
            vectors). Defaults to 0.15.
        pseudo_betas_noise (float): Std of a Gaussian offset added to each of
            the 10 betas of a wild sample (not clipped). Defaults to 0.5.

    Returns:
        dict: ``train`` / ``val`` -> path of the ``.npz``, plus
        ``train_wild`` -> the wild file when ``wild_fraction > 0``.

    Raises:
        ValueError: an argument is out of range (named with its value).
    """
    wild = _check_wild_args(wild_fraction, pseudo_orient_noise,
                            pseudo_pose_noise, pseudo_betas_noise)
    if workers is None:
        workers = _available_cpus()
    if num_train < 0 or num_val < 0 or image_size < 16:
        raise ValueError(f'generate_synthetic_dataset: need num_train, '
                         f'num_val >= 0 and image_size >= 16, found '
                         f'{num_train}, {num_val}, {image_size}')
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = osp.join(out_dir, 'manifest.json')
    if osp.exists(manifest_path):
        os.remove(manifest_path)  # an interrupted run must not look done
    wild_path = osp.join(out_dir, WILD_FILE)
    if osp.exists(wild_path):
        os.remove(wild_path)  # never mix the files of two runs
    if batch_size < 1 or workers < 1:
        raise ValueError(f'generate_synthetic_dataset: need batch_size >= 1 '
                         f'and workers >= 1, found {batch_size}, {workers}')
    focal = float(focal_ratio * image_size)
    # One intra-op thread: on a few busy cores torch's thread pool spends
    # most of its time waiting (measured 10x slower with 2 threads under
    # load); the worker processes use the cores instead. Also the same
    # thread count everywhere keeps float reductions, hence bytes, identical.
    num_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        renderer = _Renderer(body_model_root, image_size, focal)
        files = {}
        for split, num in zip(SPLITS, (num_train, num_val)):
            files.update(
                _generate_split(renderer, out_dir, split, num, seed,
                                batch_size, workers, wild))
    finally:
        torch.set_num_threads(num_threads)
        cv2.setNumThreads(cv2_threads)
    with open(manifest_path, 'w') as f:
        json.dump(
            _manifest(num_train, num_val, image_size, seed, focal_ratio, wild),
            f,
            indent=1)
    return files


def _available_cpus() -> int:
    """CPU cores this process may run on (affinity-aware where possible)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _manifest(num_train: int, num_val: int, image_size: int, seed: int,
              focal_ratio: float, wild: Dict[str, float]) -> dict:
    """The arguments that change the output. The wild settings only when
    ``wild_fraction > 0`` (otherwise they change nothing), so that a
    directory generated without the feature stays valid."""
    manifest = dict(
        num_train=int(num_train),
        num_val=int(num_val),
        image_size=int(image_size),
        seed=int(seed),
        focal_ratio=float(focal_ratio),
        generator_version=GENERATOR_VERSION)
    if wild['wild_fraction'] > 0:
        manifest.update(wild)
    return manifest


def ensure_synthetic_dataset(
        out_dir: str = 'data/synthetic',
        num_train: int = 2000,
        num_val: int = 200,
        image_size: int = 128,
        seed: int = 0,
        body_model_root: str = 'data/body_models_synthetic',
        focal_ratio: float = 1.75,
        batch_size: int = 32,
        workers: Optional[int] = None,
        wild_fraction: float = 0.0,
        pseudo_orient_noise: float = 0.1,
        pseudo_pose_noise: float = 0.15,
        pseudo_betas_noise: float = 0.5) -> Dict[str, str]:
    """Generate the dataset unless ``out_dir`` already holds this exact one.

    ``manifest.json`` (written after everything else) records the arguments
    that change the output (not ``batch_size`` / ``workers``; the wild
    settings when ``wild_fraction > 0``); a missing or different manifest
    means (re)generation with :func:`generate_synthetic_dataset`, which
    documents the arguments.

    Returns:
        dict: ``train`` / ``val`` -> path of the ``.npz``, plus
        ``train_wild`` when ``wild_fraction > 0``.
    """
    wild = _check_wild_args(wild_fraction, pseudo_orient_noise,
                            pseudo_pose_noise, pseudo_betas_noise)
    wanted = _manifest(num_train, num_val, image_size, seed, focal_ratio, wild)
    files = {s: osp.join(out_dir, f'synthetic_{s}.npz') for s in SPLITS}
    if wild['wild_fraction'] > 0:
        files['train_wild'] = osp.join(out_dir, WILD_FILE)
    manifest_path = osp.join(out_dir, 'manifest.json')
    found: Optional[dict] = None
    if osp.exists(manifest_path):
        with open(manifest_path) as f:
            found = json.load(f)
    if found == wanted and all(osp.exists(p) for p in files.values()):
        return files
    return generate_synthetic_dataset(out_dir, num_train, num_val, image_size,
                                      seed, body_model_root, focal_ratio,
                                      batch_size, workers, **wild)
