"""Small HumanData files of each label kind, packed by the real test pipeline.

A helper for tests (not a test module): it writes an mmhuman3d-style
HumanData ``.npz`` (``human_data`` keypoints, mask-compressed, ``smpl`` /
``meta`` dicts) plus tiny PNG images, builds :class:`HumanImageDataset` with
the evaluation pipeline of the configs (``mmpose.LoadImage`` →
``mmpose.GetBBoxCenterScale(padding=1.0)`` → ``mmpose.TopdownAffine`` →
``PackMeshInputs``) and returns what the data preprocessor receives.

Kinds (what mmhuman3d's preprocessed files of that dataset carry):

============  =======================================  =================
kind          labels                                   declared type
============  =======================================  =================
``'h36m'``    SMPL + 24 3D GT joints + 24 2D GT joints  ``'gt3d'``
``'eft'``     SMPL fit + 24 2D GT joints (no 3D)        ``'pseudo_smpl'``
``'2d_only'`` 24 2D GT joints only                      ``'2d_only'``
============  =======================================  =================

Values are random but plausible, not physically consistent: body pose
N(0, 0.2) rad, β N(0, 0.5) clipped to ±1.5, global orientation near SPIN's
upright camera-frame person (π about x), keypoints inside the person box and
the image, 3D joints N(0, 0.3) m with confidence 1.

Usage from any test (``tests/`` is on ``sys.path`` through its conftest)::

    from humandata_factory import build_packed_batch
    inputs, samples = build_packed_batch(tmp_path, 'eft', num=4)
"""
import os
import os.path as osp
import tempfile
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.registry import init_default_scope

from mmhuman_imphmr.datasets import HumanImageDataset, save_human_data
from mmhuman_imphmr.datasets.keypoint_mapping import (compress_keypoints,
                                                      from_smpl49)
from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample
from mmhuman_imphmr.utils.constants import (LABEL_TYPE_2D, LABEL_TYPE_GT3D,
                                            LABEL_TYPE_PSEUDO_SMPL,
                                            NUM_GT_JOINTS, NUM_JOINTS,
                                            NUM_OPENPOSE_JOINTS)

# kind -> (has SMPL, has 3D joints, declared label type)
KINDS = {
    'h36m': (True, True, LABEL_TYPE_GT3D),
    'eft': (True, False, LABEL_TYPE_PSEUDO_SMPL),
    '2d_only': (False, False, LABEL_TYPE_2D),
}
IMAGE_SIZE = 96  # square images, pixels
BOX = (12.0, 12.0, 72.0, 72.0)  # x, y, w, h of every person (square)


def packing_pipeline(input_size: int = 64) -> list:
    """The configs' evaluation pipeline at ``input_size`` pixels."""
    return [
        dict(type='mmpose.LoadImage'),
        dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
        dict(type='mmpose.TopdownAffine', input_size=(input_size, ) * 2),
        dict(type='PackMeshInputs'),
    ]


def write_humandata(folder: str,
                    kind: str,
                    num: int = 4,
                    seed: int = 0) -> str:
    """Write ``<folder>/<kind>.npz`` and ``<folder>/images/NNN.png``.

    Returns:
        str: The ``.npz`` path; image paths inside are relative to
        ``folder``.
    """
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {sorted(KINDS)}, found '
                         f'{kind!r}')
    has_smpl, has_kp3d, _ = KINDS[kind]
    rng = np.random.default_rng(seed)
    paths = [f'images/{i:03d}.png' for i in range(num)]
    os.makedirs(osp.join(folder, 'images'), exist_ok=True)
    for path in paths:
        full = osp.join(folder, path)
        cv2.imwrite(
            full,
            rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8))
    # Only SPIN's 24 GT joints are annotated (no OpenPose detections), as in
    # mmhuman3d's H36M and EFT files.
    mask49 = np.zeros(NUM_JOINTS, np.uint8)
    mask49[NUM_OPENPOSE_JOINTS:] = 1
    x, y, w, h = BOX
    kp49 = np.zeros((num, NUM_JOINTS, 3), np.float32)
    kp49[..., 0] = rng.uniform(x + 4, x + w - 4, (num, NUM_JOINTS))
    kp49[..., 1] = rng.uniform(y + 4, y + h - 4, (num, NUM_JOINTS))
    kp49[..., 2] = 1.0
    kp2d, mask2d = from_smpl49(kp49, mask49)
    data = dict(
        image_path=np.array(paths),
        bbox_xywh=np.tile(np.array([[x, y, w, h, 1.0]], np.float32), (num, 1)),
        keypoints2d=compress_keypoints(kp2d, mask2d),
        keypoints2d_mask=mask2d)
    if has_kp3d:
        kp3d49 = np.zeros((num, NUM_JOINTS, 4), np.float32)
        kp3d49[:,
               NUM_OPENPOSE_JOINTS:, :3] = rng.normal(0, 0.3,
                                                      (num, NUM_GT_JOINTS, 3))
        kp3d49[..., 3] = 1.0
        kp3d, mask3d = from_smpl49(kp3d49, mask49)
        data.update(
            keypoints3d=compress_keypoints(kp3d, mask3d),
            keypoints3d_mask=mask3d)
    if has_smpl:
        orient = np.tile([np.pi, 0.0, 0.0],
                         (num, 1)) + rng.normal(0, 0.1, (num, 3))
        data['smpl'] = dict(
            global_orient=orient.astype(np.float32),
            body_pose=rng.normal(0, 0.2, (num, 23, 3)).astype(np.float32),
            betas=np.clip(rng.normal(0, 0.5, (num, 10)), -1.5,
                          1.5).astype(np.float32))
        data['has_smpl'] = np.ones(num, np.uint8)
    if kind == 'h36m':
        data['meta'] = dict(
            gender=np.array(['m', 'f'] * (num // 2) + ['m'] * (num % 2)))
    path = osp.join(folder, f'{kind}.npz')
    save_human_data(path, data, keypoints_compressed=True)
    return path


def build_dataset(tmp_path,
                  kind: str,
                  num: int = 4,
                  input_size: int = 64,
                  label_type: Optional[str] = 'default',
                  seed: int = 0) -> HumanImageDataset:
    """A :class:`HumanImageDataset` over a fresh file of ``kind``.

    Args:
        tmp_path (str | Path): A folder; each call writes into its own new
            sub-folder of it.
        kind (str): ``'h36m'``, ``'eft'`` or ``'2d_only'`` (:data:`KINDS`).
        num (int): Samples. Defaults to 4.
        input_size (int): Square crop size of ``TopdownAffine``.
        label_type (str, optional): ``'default'`` declares the kind's type,
            None leaves it to inference, any other string is passed as is.
        seed (int): Seed of the random labels and images.
    """
    # The pipeline's types resolve in the package's scope (mmpose.* parts
    # through their own registries); only the datasets need importing.
    init_default_scope('mmhuman_imphmr')
    folder = tempfile.mkdtemp(prefix=f'{kind}-', dir=str(tmp_path))
    ann_file = write_humandata(folder, kind, num, seed)
    if label_type == 'default':
        label_type = KINDS[kind][2]
    return HumanImageDataset(
        ann_file=ann_file,
        data_prefix=dict(img_path=folder),
        dataset_name=kind,
        label_type=label_type,
        check_images=True,
        pipeline=packing_pipeline(input_size))


def build_packed_batch(
    tmp_path,
    kind: str,
    num: int = 4,
    input_size: int = 64,
    label_type: Optional[str] = 'default'
) -> Tuple[torch.Tensor, List[MeshDataSample]]:
    """A packed batch of ``num`` samples of ``kind`` (see the module doc).

    Args:
        tmp_path (str | Path): Folder to write the file and images into.
        kind (str): ``'h36m'``, ``'eft'`` or ``'2d_only'``.
        num (int): Batch size. Defaults to 4.
        input_size (int): Crop size H = W. Defaults to 64.
        label_type (str, optional): ``'default'`` (the kind's declared
            type), None (inferred from the file) or an explicit string.

    Returns:
        tuple: ``inputs`` Tensor[B, 3, H, W] float32 (the crops' uint8 BGR
        values as float, not normalised: what the data preprocessor
        receives) and the B :class:`MeshDataSample`.
    """
    dataset = build_dataset(tmp_path, kind, num, input_size, label_type)
    items = [dataset[i] for i in range(len(dataset))]
    inputs = torch.stack([item['inputs'] for item in items]).float()
    return inputs, [item['data_samples'] for item in items]
