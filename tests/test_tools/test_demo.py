"""tools/demo.py end to end with a freshly initialised quick-start model."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
spec = importlib.util.spec_from_file_location(
    'demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


def _person_image(height=150, width=110):
    """A grey backdrop with a person-like blob (the model is untrained, the
    content only has to be a valid picture)."""
    image = np.full((height, width, 3), 180, np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (18, 55), 0, 0, 360,
                (60, 90, 150), -1)
    cv2.circle(image, (width // 2, height // 2 - 62), 10, (120, 150, 200), -1)
    return image


def _check_person(out_dir, stem, image_shape, num_faces):
    files = {
        s: osp.join(out_dir, stem + s)
        for s in ('.obj', '_smpl.npz', '_smpl.json', '_overlay.png',
                  '_views.png')
    }
    for path in files.values():
        assert osp.isfile(path), path
    overlay = cv2.imread(files['_overlay.png'])
    assert overlay is not None and overlay.shape == image_shape
    views = cv2.imread(files['_views.png'])
    # 2 rows (mesh, silhouette head) x (input + 4 views) panels of 224.
    assert views is not None and views.shape == (2 * 224, 5 * 224, 3)
    with open(files['.obj']) as f:
        lines = f.read().splitlines()
    assert sum(line.startswith('v ') for line in lines) == 6890
    assert sum(line.startswith('f ') for line in lines) == num_faces
    params = np.load(files['_smpl.npz'])
    assert params['body_pose'].shape == (69, )
    assert params['vertices'].shape == (6890, 3)
    with open(files['_smpl.json']) as f:
        meta = json.load(f)
    assert len(meta['betas']) == 10 and len(meta['cam']) == 3


def test_demo_single_image(body_model_root, tmp_path):
    image_path = str(tmp_path / 'person.png')
    cv2.imwrite(image_path, _person_image())
    out_dir = str(tmp_path / 'out')
    args = demo.parse_args([
        CONFIG, 'none', '--input', image_path, '--bbox', '30', '10', '50',
        '130', '--out-dir', out_dir, '--body-model-root', body_model_root
    ])
    written = demo.run(args)
    assert len(written) == 5
    from mmhuman_imphmr.body_models import SMPL
    num_faces = SMPL(model_path=body_model_root).faces_tensor.shape[0]
    _check_person(out_dir, 'person_0', (150, 110, 3), num_faces)
    # No temporary files are left behind, and files are readable by others.
    assert not [f for f in os.listdir(out_dir) if f.startswith('.tmp')]
    assert os.stat(written[0]).st_mode & 0o044


def test_demo_video_with_bbox_file(body_model_root, tmp_path):
    video = str(tmp_path / 'walk.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             (110, 150))
    for _ in range(3):
        writer.write(_person_image())
    writer.release()
    boxes = str(tmp_path / 'boxes.json')
    with open(boxes, 'w') as f:
        # Frame 0: two people; frame 1: no entry -> the whole frame.
        json.dump({'walk_000000': [[30, 10, 50, 130], [0, 0, 40, 40]]}, f)
    out_dir = str(tmp_path / 'out')
    args = demo.parse_args([
        CONFIG, 'none', '--input', video, '--bbox-file', boxes, '--out-dir',
        out_dir, '--body-model-root', body_model_root, '--max-frames', '2',
        '--views', '0', '180'
    ])
    written = demo.run(args)
    # A video also gets its overlay video (tests/test_tools/test_demo_video.py
    # checks it decodes); per-frame overlays are in it, not in PNGs.
    movie = osp.join(out_dir, 'walk_overlay.mp4')
    assert movie in written
    stems = sorted({
        osp.basename(p).split('.')[0].replace('_smpl',
                                              '').replace('_views', '')
        for p in written if p != movie
    })
    assert stems == ['walk_000000_0', 'walk_000000_1', 'walk_000001_0']
    views = cv2.imread(osp.join(out_dir, 'walk_000001_0_views.png'))
    assert views.shape == (2 * 224, 3 * 224, 3)


def test_bad_bbox_file(tmp_path):
    path = str(tmp_path / 'boxes.json')
    with open(path, 'w') as f:
        json.dump({'a.jpg': [[1, 2, 3]]}, f)
    with pytest.raises(ValueError, match='a.jpg'):
        demo.load_bbox_file(path)
