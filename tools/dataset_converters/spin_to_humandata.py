"""Convert a SPIN / PARE preprocessed ``.npz`` into a HumanData ``.npz``.

SPIN (``datasets/preprocess/*.py``) and PARE store one file per dataset with
``imgname`` (N,), ``center`` (N, 2), ``scale`` (N,) (= bbox side / 200),
``part`` (N, 24, 3) (SPIN's 24 GT joints, pixels + visibility), optional
``openpose`` (N, 25, 3), ``S`` (N, 24, 4), ``pose`` (N, 72), ``shape``
(N, 10), ``has_smpl`` (N,), ``gender`` (N,) ``'m'``/``'f'``.

The output follows mmhuman3d's HumanData schema and its converter's choices
(``mmhuman3d/data/data_converters/spin.py``): square ``bbox_xywh`` from
center/scale with a score column of 1, keypoints in the ``human_data``
convention, mask-compressed, ``smpl`` dict, ``has_smpl``, ``meta.gender``.

Example::

    python tools/dataset_converters/spin_to_humandata.py \
        data/spin_npz/coco_2014_train.npz \
        data/preprocessed_datasets/spin_coco_2014_train.npz
"""
import argparse
import os
import os.path as osp
from typing import Optional

import numpy as np

from mmhuman_imphmr.datasets.human_data_io import save_human_data
from mmhuman_imphmr.datasets.keypoint_mapping import (compress_keypoints,
                                                      from_smpl49)
from mmhuman_imphmr.utils.constants import NUM_OPENPOSE_JOINTS

REQUIRED = {'imgname': None, 'center': (2, ), 'scale': (), 'part': (24, 3)}
OPTIONAL = {
    'openpose': (25, 3),
    'S': (24, 4),
    'pose': (72, ),
    'shape': (10, ),
    'has_smpl': (),
    'gender': ()
}


def _check(path: str, data: dict, num: int) -> None:
    for key, shape in {**REQUIRED, **OPTIONAL}.items():
        if key not in data:
            if key in REQUIRED:
                raise KeyError(f'{path}: key "{key}" missing (found '
                               f'{sorted(data)})')
            continue
        found = data[key].shape
        expected = (num, ) + (shape or ())
        if key == 'scale' and found == (num, 1):
            continue
        if shape is not None and found != expected:
            raise ValueError(f'{path}: key "{key}": expected shape '
                             f'{expected}, found {found}')
        if data[key].dtype.kind == 'f' and not np.isfinite(data[key]).all():
            bad = ~np.isfinite(data[key].reshape(num, -1)).all(axis=1)
            raise ValueError(f'{path}: key "{key}": NaN/Inf at sample index '
                             f'{int(np.argmax(bad))}')


def convert_spin_npz(src: str,
                     out: str,
                     image_prefix: Optional[str] = None) -> int:
    """Convert ``src`` (SPIN/PARE npz) to ``out`` (HumanData npz).

    Args:
        src (str): SPIN-style ``.npz``.
        out (str): Output ``.npz`` path.
        image_prefix (str, optional): Prefix added to every ``imgname``.

    Returns:
        int: Number of samples written.
    """
    with np.load(src, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    num = len(data.get('imgname', ()))
    _check(src, data, num)
    if num == 0:
        raise ValueError(f'{src}: 0 samples')
    imgname = data['imgname'].astype(str)
    if image_prefix:
        imgname = np.array([osp.join(image_prefix, n) for n in imgname])
    side = data['scale'].reshape(num).astype(np.float64) * 200.0
    center = data['center'].astype(np.float64)
    bbox = np.stack([
        center[:, 0] - side / 2, center[:, 1] - side / 2, side, side,
        np.ones(num)
    ],
                    axis=1)

    has_openpose = 'openpose' in data
    openpose = data['openpose'] if has_openpose else np.zeros(
        (num, NUM_OPENPOSE_JOINTS, 3))
    kp49 = np.concatenate([openpose, data['part']], axis=1).astype(np.float32)
    mask49 = np.ones(kp49.shape[1], np.uint8)
    mask49[:NUM_OPENPOSE_JOINTS] = int(has_openpose)
    kp2d, mask2d = from_smpl49(kp49, mask49, 'human_data')
    human_data = dict(
        image_path=imgname,
        bbox_xywh=bbox.astype(np.float32),
        keypoints2d=compress_keypoints(kp2d, mask2d),
        keypoints2d_mask=mask2d,
        keypoints2d_convention='human_data',
        config=osp.splitext(osp.basename(src))[0])
    if 'S' in data:
        s49 = np.concatenate(
            [np.zeros((num, NUM_OPENPOSE_JOINTS, 4)), data['S']],
            axis=1).astype(np.float32)
        mask3d49 = np.ones(s49.shape[1], np.uint8)
        mask3d49[:NUM_OPENPOSE_JOINTS] = 0
        kp3d, mask3d = from_smpl49(s49, mask3d49, 'human_data')
        human_data.update(
            keypoints3d=compress_keypoints(kp3d, mask3d),
            keypoints3d_mask=mask3d,
            keypoints3d_convention='human_data')
    if 'pose' in data and 'shape' in data:
        pose = data['pose'].astype(np.float32)
        human_data['smpl'] = dict(
            global_orient=pose[:, :3],
            body_pose=pose[:, 3:].reshape(num, 23, 3),
            betas=data['shape'].astype(np.float32))
        human_data['has_smpl'] = (data['has_smpl'].astype(np.float32) > 0
                                  ).astype(np.uint8) if 'has_smpl' in data \
            else np.ones(num, np.uint8)
    if 'gender' in data:
        human_data['meta'] = dict(gender=data['gender'].astype(str))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    save_human_data(out, human_data, keypoints_compressed=True)
    return num


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='SPIN/PARE .npz')
    parser.add_argument('out', help='output HumanData .npz')
    parser.add_argument(
        '--image-prefix', default=None, help='prefix added to every imgname')
    args = parser.parse_args()
    num = convert_spin_npz(args.src, args.out, args.image_prefix)
    print(f'wrote {num} samples to {args.out}')


if __name__ == '__main__':
    main()
