"""Convert raw 3DPW sequence pickles into a HumanData ``.npz`` (test set).

3DPW ships ``sequenceFiles/{train,validation,test}/*.pkl`` (Python-2
pickles, latin1) with per person ``poses`` (F, 72), ``betas`` (10 or 300),
``trans`` (F, 3), ``poses2d`` (F, 3, 18) (OpenPose COCO-18 layout, x/y/conf),
``genders`` (``'m'``/``'f'``), and per frame ``cam_poses`` (F, 4, 4) (world to
camera), ``campose_valid`` (persons, F), ``img_frame_ids`` (F,),
``sequence`` (str). The SMPL parameters are in the world frame.

Protocol followed (the same choices as SPIN's ``datasets/preprocess/pw3d.py``
and mmhuman3d's ``data_converters/pw3d.py``, which PARE / PyMAF evaluate on):

* keep only the frames with ``campose_valid`` for that person;
* global orientation into the camera frame: ``R_cam · R_root`` with
  ``R_cam = cam_poses[f][:3, :3]`` (body pose and betas unchanged; betas are
  the first 10);
* bbox from the 2D keypoints with confidence > 0: the tight box, made square
  with side ``1.2 · max(w, h)`` around its centre (SPIN's scale = side/200);
  frames with no confident keypoint are skipped (counted in the printout);
* gender per person in ``meta.gender``; the 2D keypoints fill the OpenPose
  part of SPIN's 49 joints.

The pickles are read with a numpy-only unpickler (no arbitrary code runs).

Example::

    python tools/dataset_converters/pw3d_to_humandata.py data/datasets/pw3d \
        data/preprocessed_datasets/pw3d_test.npz --split test
"""
import argparse
import glob
import os
import os.path as osp
from typing import Dict

import numpy as np

from mmhuman_imphmr.datasets.human_data_io import (load_pickle_numpy_only,
                                                   save_human_data)
from mmhuman_imphmr.datasets.keypoint_mapping import (compress_keypoints,
                                                      from_smpl49)
from mmhuman_imphmr.utils.constants import NUM_JOINTS

# OpenPose COCO-18 (3DPW's poses2d) -> index in SPIN's 49 (its 25 OpenPose
# joints share the first 8 names; COCO-18 has no MidHip, so 8.. shift by one).
COCO18_TO_SMPL49 = [
    0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
]
BBOX_ENLARGE = 1.2  # SPIN / mmhuman3d


def _rodrigues(vec: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.Rodrigues(np.asarray(vec, np.float64).reshape(3))[0]


def _axis_angle(mat: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.Rodrigues(np.asarray(mat, np.float64))[0].reshape(3)


def _sequence(path: str) -> Dict:
    data = load_pickle_numpy_only(path)
    for key in ('poses', 'betas', 'poses2d', 'cam_poses', 'campose_valid',
                'genders', 'sequence'):
        if key not in data:
            raise KeyError(f'{path}: key "{key}" missing (found '
                           f'{sorted(data)})')
    return data


def convert_pw3d(root: str, out: str, split: str = 'test') -> int:
    """Convert ``<root>/sequenceFiles/<split>/*.pkl`` into ``out``.

    Returns:
        int: Number of samples written.
    """
    files = sorted(glob.glob(osp.join(root, 'sequenceFiles', split, '*.pkl')))
    if not files:
        raise FileNotFoundError(f'no .pkl under {root}/sequenceFiles/{split}')
    image_path, bbox, kp2d, orient, body, betas, genders = ([]
                                                            for _ in range(7))
    skipped = 0
    for path in files:
        seq = _sequence(path)
        name = seq['sequence']
        name = name.decode() if isinstance(name, bytes) else str(name)
        cam_poses = np.asarray(seq['cam_poses'], np.float64)
        valid = np.asarray(seq['campose_valid']).astype(bool)
        frame_ids = np.asarray(
            seq.get('img_frame_ids', np.arange(len(cam_poses))))
        for person, poses in enumerate(seq['poses']):
            poses = np.asarray(poses, np.float64)
            if poses.shape[1:] != (72, ) or valid[person].shape[0] != \
                    poses.shape[0]:
                raise ValueError(f'{path}: person {person}: poses '
                                 f'{poses.shape} / campose_valid '
                                 f'{valid[person].shape} do not match')
            beta = np.asarray(seq['betas'][person], np.float64)[:10]
            gender = seq['genders'][person]
            gender = gender.decode() if isinstance(gender, bytes) else gender
            joints2d = np.asarray(seq['poses2d'][person], np.float64)
            for frame in np.flatnonzero(valid[person]):
                kps = joints2d[frame].T  # (18, 3)
                confident = kps[kps[:, 2] > 0]
                if len(confident) == 0:
                    skipped += 1
                    continue
                lo, hi = confident[:, :2].min(0), confident[:, :2].max(0)
                side = BBOX_ENLARGE * float((hi - lo).max())
                cx, cy = (lo + hi) / 2
                bbox.append([cx - side / 2, cy - side / 2, side, side, 1.0])
                kp49 = np.zeros((NUM_JOINTS, 3))
                kp49[COCO18_TO_SMPL49] = kps
                kp2d.append(kp49)
                rot_cam = cam_poses[frame][:3, :3]
                orient.append(
                    _axis_angle(rot_cam @ _rodrigues(poses[frame, :3])))
                body.append(poses[frame, 3:].reshape(23, 3))
                betas.append(beta)
                genders.append(gender)
                image_path.append(f'imageFiles/{name}/image_'
                                  f'{int(frame_ids[frame]):05d}.jpg')
    num = len(image_path)
    if num == 0:
        raise ValueError(f'{root}: no valid frame in {len(files)} sequences')
    mask49 = np.zeros(NUM_JOINTS, np.uint8)
    mask49[COCO18_TO_SMPL49] = 1
    kp_hd, mask_hd = from_smpl49(
        np.asarray(kp2d, np.float32), mask49, 'human_data')
    human_data = dict(
        image_path=np.asarray(image_path),
        bbox_xywh=np.asarray(bbox, np.float32),
        keypoints2d=compress_keypoints(kp_hd, mask_hd),
        keypoints2d_mask=mask_hd,
        keypoints2d_convention='human_data',
        smpl=dict(
            global_orient=np.asarray(orient, np.float32),
            body_pose=np.asarray(body, np.float32),
            betas=np.asarray(betas, np.float32)),
        has_smpl=np.ones(num, np.uint8),
        meta=dict(gender=np.asarray(genders)),
        config=f'pw3d_{split}')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    save_human_data(out, human_data, keypoints_compressed=True)
    print(f'{split}: {num} samples from {len(files)} sequences '
          f'({skipped} valid frames without confident 2D keypoints skipped)')
    return num


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='3DPW root (with sequenceFiles/)')
    parser.add_argument('out', help='output HumanData .npz')
    parser.add_argument(
        '--split', default='test', choices=['train', 'validation', 'test'])
    args = parser.parse_args()
    convert_pw3d(args.root, args.out, args.split)


if __name__ == '__main__':
    main()
