"""tools/demo.py with no boxes on a real photograph: the built-in detector
must find the person (skimage's astronaut photo, when skimage is there)."""
import importlib.util
import json
import os.path as osp

import cv2
import pytest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
spec = importlib.util.spec_from_file_location(
    'demo_tool_photo', osp.join(ROOT, 'tools', 'demo.py'))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


def _iou(a, b):
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def test_demo_finds_the_person_in_a_photo(body_model_root, tmp_path):
    skimage_data = pytest.importorskip('skimage.data')
    image = str(tmp_path / 'astronaut.png')
    cv2.imwrite(image, cv2.cvtColor(skimage_data.astronaut(),
                                    cv2.COLOR_RGB2BGR))
    out_dir = str(tmp_path / 'out')
    written = demo.run(
        demo.parse_args([
            CONFIG, 'none', '--input', image, '--out-dir', out_dir,
            '--body-model-root', body_model_root, '--no-views'
        ]))
    boxes = []
    for path in written:
        if path.endswith('_smpl.json'):
            with open(path) as f:
                boxes.append(json.load(f)['bbox_xywh'])
    # Hand-drawn box of Eileen Collins (hair to the bottom edge); the
    # whole-image fallback (0, 0, 512, 512) would score 0.68 < 0.75.
    person = [20, 20, 360, 492]
    assert boxes and max(_iou(b, person) for b in boxes) > 0.75, boxes
    overlay = cv2.imread(osp.join(out_dir, 'astronaut_0_overlay.png'))
    assert overlay.shape == (512, 512, 3)
