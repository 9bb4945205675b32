"""Bad data found when the dataset is built (issue 10): degenerate boxes with
their indices, empty / non-image files, the skip policy's counts by reason
and the threshold that stops mostly-broken data; training configs check."""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmhuman_imphmr.datasets import HumanImageDataset, save_human_data
from mmhuman_imphmr.utils.setup_env import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PIPELINE = [
    dict(type='mmpose.LoadImage'),
    dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
    dict(type='mmpose.TopdownAffine', input_size=(16, 16)),
    dict(type='PackMeshInputs'),
]


def _write(root, num=10, boxes=None):
    rng = np.random.default_rng(0)
    paths = [f'{i}.png' for i in range(num)]
    for p in paths:
        cv2.imwrite(
            osp.join(root, p),
            rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    bbox = np.tile([[2., 2., 20., 20., 1.]], (num, 1)) if boxes is None \
        else boxes
    path = osp.join(root, 'ann.npz')
    save_human_data(path, dict(image_path=np.array(paths), bbox_xywh=bbox))
    return path


def _dataset(root, ann, **kwargs):
    register_all_modules()
    ds = HumanImageDataset(
        ann_file=ann,
        data_prefix=dict(img_path=root),
        pipeline=PIPELINE,
        label_type='2d_only',
        **kwargs)
    ds.full_init()
    return ds


def test_degenerate_bboxes_are_reported_with_indices(tmp_path):
    root = str(tmp_path)
    boxes = np.tile([[2., 2., 20., 20., 1.]], (10, 1))
    boxes[3] = 0  # all-zero box
    boxes[7, 3] = 0.5  # height below one pixel
    ann = _write(root, boxes=boxes)
    with pytest.raises(
            ValueError,
            match=r'ann.npz: 2 of 10 samples have a '
            r'zero-size or degenerate bbox .*sample indices 3, 7'):
        _dataset(root, ann)
    with pytest.warns(
            UserWarning, match='sample indices 3, 7; they are '
            'skipped'):
        ds = _dataset(root, ann, on_bad_bbox='skip')
    # mmengine refetches a random index after a skip, which may be the other
    # bad sample: record the draws so the expected count is exact.
    draws, rand_another = [], ds._rand_another
    ds._rand_another = lambda: draws.append(rand_another()) or draws[-1]
    with pytest.warns(
            UserWarning,
            match=r'sample index 3: .*3.png: '
            r'degenerate bbox; serving another sample'):
        served = ds[3]['data_samples'].sample_idx
    assert served not in (3, 7) and served == draws[-1]
    assert ds.skip_summary == {
        'degenerate bbox': 1 + sum(d in (3, 7) for d in draws)
    }


def test_all_zero_boxes_stop_the_run(tmp_path):
    root = str(tmp_path)
    ann = _write(root, boxes=np.zeros((10, 5)))
    with pytest.raises(
            ValueError,
            match=r'10 of 10 samples are unusable, '
            r'more than max_bad_fraction=0.5; the data is mostly '
            r'broken \(10 degenerate bbox\)'):
        _dataset(root, ann, on_bad_bbox='skip')


def test_check_images_finds_empty_and_non_image_files(tmp_path):
    root = str(tmp_path)
    ann = _write(root)
    open(osp.join(root, '2.png'), 'wb').close()
    with open(osp.join(root, '5.png'), 'w') as f:
        f.write('<html>not found</html>')
    with pytest.raises(
            OSError,
            match=r'1 of 10 samples have an image file '
            r'that is empty \(0 bytes\): sample indices 2'):
        _dataset(root, ann, check_images=True)
    with pytest.warns(UserWarning) as record:
        ds = _dataset(root, ann, check_images=True, on_missing_image='skip')
    text = ' '.join(str(w.message) for w in record)
    assert 'not a JPEG/PNG/BMP/TIFF/WebP image: sample indices 5' in text
    assert ds._bad_samples == {
        2: 'empty (0 bytes)',
        5: 'not a JPEG/PNG/BMP/TIFF/WebP image'
    }


def test_skip_threshold_stops_mostly_broken_data_at_build(tmp_path):
    import os
    root = str(tmp_path)
    ann = _write(root)
    for i in range(6):
        os.remove(osp.join(root, f'{i}.png'))
    with pytest.raises(
            FileNotFoundError,
            match=r'6 of 10 samples are '
            r'unusable, more than max_bad_fraction=0.5'):
        with pytest.warns(UserWarning):
            _dataset(root, ann, check_images=True, on_missing_image='skip')
    # 6 of 10 is fine for a run that allows it.
    with pytest.warns(UserWarning):
        ds = _dataset(
            root,
            ann,
            check_images=True,
            on_missing_image='skip',
            max_bad_fraction=0.7)
    assert len(ds._bad_samples) == 6


def test_skip_threshold_stops_while_training(tmp_path):
    """Images that break after the build check (unreadable content) are
    counted per process; more than max_bad_fraction of 200+ loads stops."""
    root = str(tmp_path)
    ann = _write(root)
    ds = _dataset(root, ann, on_missing_image='skip', max_bad_fraction=0.3)
    for i in range(4):  # 40% of the samples decode to nothing
        with open(osp.join(root, f'{i}.png'), 'wb') as f:
            f.write(b'\x89PNG\r\n\x1a\n' + b'\0' * 8)
    with pytest.raises(
            RuntimeError,
            match=r'samples loaded in this process '
            r'were skipped .*unreadable image.*more than '
            r'max_bad_fraction=0.3: the data is mostly broken'):
        with pytest.warns(UserWarning):
            for k in range(400):
                ds.prepare_data(k % 10)


@pytest.mark.parametrize('config', ['mix_train.py', 'coco_train.py'])
def test_training_configs_check_images_and_skip(config):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', config))
    dataset = cfg.train_dataloader.dataset
    for ds in dataset.get('datasets', [dataset]):
        assert ds.check_images is True
        assert ds.on_missing_image == 'skip' and ds.on_bad_bbox == 'skip'
        assert 0 < ds.max_bad_fraction < 0.5
