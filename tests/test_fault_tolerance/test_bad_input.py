"""Each kind of bad input fails early with a message naming what is wrong."""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmhuman_imphmr.datasets import HumanImageDataset, save_human_data
from mmhuman_imphmr.utils.setup_env import register_all_modules

PIPELINE = [
    dict(type='mmpose.LoadImage'),
    dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
    dict(type='mmpose.TopdownAffine', input_size=(16, 16)),
    dict(type='PackMeshInputs'),
]


def _write(root, num=4, images=True, **override):
    rng = np.random.default_rng(0)
    paths = [f'{i}.png' for i in range(num)]
    if images:
        for p in paths:
            cv2.imwrite(
                osp.join(root, p),
                rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    data = dict(
        image_path=np.array(paths),
        bbox_xywh=np.tile([[2., 2., 20., 20., 1.]], (num, 1)),
        keypoints2d=rng.uniform(2, 20, (num, 49, 3)).astype(np.float32),
        keypoints2d_convention='smpl_49',
        smpl=dict(
            global_orient=np.zeros((num, 3)),
            body_pose=np.zeros((num, 69)),
            betas=np.zeros((num, 10))))
    data.update(override)
    data = {k: v for k, v in data.items() if v is not None}
    path = osp.join(root, 'ann.npz')
    save_human_data(path, data)
    return path


def _dataset(root, ann, **kwargs):
    register_all_modules()
    return HumanImageDataset(
        ann_file=ann,
        data_prefix=dict(img_path=root),
        pipeline=PIPELINE,
        **kwargs)


def test_missing_image_raises_at_build(tmp_path):
    root = str(tmp_path)
    ann = _write(root)
    import os
    os.remove(osp.join(root, '2.png'))
    with pytest.raises(
            FileNotFoundError,
            match=r'ann.npz: 1 of 4 images not found .*sample '
            r'index 2: .*2.png'):
        _dataset(root, ann, check_images=True).full_init()


def test_missing_image_skip_serves_another(tmp_path):
    root = str(tmp_path)
    ann = _write(root)
    import os
    os.remove(osp.join(root, '2.png'))
    with pytest.warns(UserWarning, match='1 of 4 images not found'):
        ds = _dataset(root, ann, check_images=True, on_missing_image='skip')
        ds.full_init()
    with pytest.warns(
            UserWarning,
            match=r'sample index 2: .*2.png: image '
            r'not found; serving another sample \(1 skipped'):
        item = ds[2]
    assert item['data_samples'].sample_idx != 2


def test_unreadable_image(tmp_path):
    root = str(tmp_path)
    ann = _write(root)
    with open(osp.join(root, '1.png'), 'wb') as f:
        f.write(b'not a png')
    ds = _dataset(root, ann)
    with pytest.raises(
            Exception,
            match=r'ann.npz: sample index 1: cannot '
            r'read image .*1.png'):
        ds[1]
    ds = _dataset(root, ann, on_missing_image='skip')
    with pytest.warns(
            UserWarning, match=r'sample index 1: .*1.png: '
            r'unreadable'):
        assert ds[1]['data_samples'].sample_idx != 1


def test_npz_missing_key(tmp_path):
    ann = _write(str(tmp_path), images=False, bbox_xywh=None)
    with pytest.raises(
            ValueError,
            match=r'ann.npz: key "bbox_xywh": '
            r'missing \(found keys'):
        _dataset(str(tmp_path), ann).full_init()


def test_npz_wrong_shape(tmp_path):
    ann = _write(
        str(tmp_path),
        images=False,
        smpl=dict(
            global_orient=np.zeros((4, 3)),
            body_pose=np.zeros((4, 22, 3)),
            betas=np.zeros((4, 10))))
    with pytest.raises(
            ValueError,
            match=r'key "smpl.body_pose": expected '
            r'one of \[\(4, 69\), \(4, 23, 3\)\], found '
            r'\(4, 22, 3\)'):
        _dataset(str(tmp_path), ann).full_init()


def test_nan_in_annotations(tmp_path):
    kp = np.ones((4, 49, 3), np.float32)
    kp[3, 7, 0] = np.nan
    ann = _write(str(tmp_path), images=False, keypoints2d=kp)
    with pytest.raises(
            ValueError,
            match=r'ann.npz: key "keypoints2d": '
            r'NaN/Inf at sample index 3'):
        _dataset(str(tmp_path), ann).full_init()
    betas = np.zeros((4, 10))
    betas[1, 0] = np.inf
    ann = _write(
        str(tmp_path),
        images=False,
        smpl=dict(
            global_orient=np.zeros((4, 3)),
            body_pose=np.zeros((4, 69)),
            betas=betas))
    with pytest.raises(
            ValueError, match=r'"smpl.betas": NaN/Inf at sample '
            r'index 1'):
        _dataset(str(tmp_path), ann).full_init()


def test_empty_dataset_and_partition(tmp_path):
    ann = _write(str(tmp_path), num=0, images=False)
    with pytest.raises(
            ValueError, match=r'key "image_path": the file has 0 '
            r'samples'):
        _dataset(str(tmp_path), ann).full_init()
    from mmhuman_imphmr.datasets import MixDatasetSampler

    class Concat:  # a ConcatDataset of a 3-sample and an empty dataset
        datasets = [
            type('D', (), dict(dataset_name='full'))(),
            type('D', (), dict(dataset_name='empty'))()
        ]
        cumulative_sizes = [3, 3]

    with pytest.raises(
            ValueError,
            match=r"partition gives weight 0.5 to "
            r"dataset 'empty', which is empty"):
        MixDatasetSampler(Concat(), partition=[0.5, 0.5], seed=0)


@pytest.mark.parametrize('problem', ['missing', 'malformed'])
def test_body_model_file_through_config(tmp_path, body_model_root, problem):
    import shutil

    from mmhuman_imphmr.registry import MODELS
    register_all_modules()
    root = str(tmp_path / 'bm')
    shutil.copytree(body_model_root, root)
    model_file = osp.join(root, 'smpl', 'SMPL_NEUTRAL.pkl')
    if problem == 'missing':
        import os
        os.remove(model_file)
        match = r'SMPL neutral model .* not found: .*SMPL_NEUTRAL.pkl'
    else:
        with open(model_file, 'wb') as f:
            f.write(b'garbage')
        match = r'SMPL_NEUTRAL.pkl: not a readable SMPL pickle'
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(__file__), '..', '..', 'configs',
            'imphmr_r18_synthetic.py'))
    cfg.model.head.body_model.model_path = root
    cfg.model.head.mean_params = osp.join(root, 'smpl_mean_params.npz')
    with pytest.raises(Exception, match=match) as err:
        MODELS.build(cfg.model)
    assert 'Expected body-model folder' in str(err.value)


def test_unknown_registry_type():
    from mmhuman_imphmr.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(__file__), '..', '..', 'configs',
            'imphmr_r18_synthetic.py'))
    cfg.model.neck.type = 'FeatureFieldNek'  # typo
    with pytest.raises(
            KeyError,
            match=r'FeatureFieldNek is not in the '
            r'mmhuman_imphmr::model registry'):
        MODELS.build(cfg.model)
