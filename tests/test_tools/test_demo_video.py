"""tools/demo.py on videos (overlay mp4, batching, flags) and its refusals
(non-finite results, boxes outside the image, bbox-file typos)."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')
spec = importlib.util.spec_from_file_location(
    'demo_tool_video', osp.join(ROOT, 'tools', 'demo.py'))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

HEIGHT, WIDTH = 160, 200
# A person on the left; with SPIN's padding 1.2 its crop window is
# x in [-20, 100), y in [10, 130): the right and bottom of the frame are
# outside every crop window.
BOX = [20, 20, 40, 100]


def _frame(t):
    image = np.full((HEIGHT, WIDTH, 3), 170, np.uint8)
    cv2.ellipse(image, (40 + t, 75), (14, 42), 0, 0, 360, (60, 90, 150), -1)
    cv2.circle(image, (40 + t, 28), 8, (120, 150, 200), -1)
    return image


def _video(tmp_path, frames=5, fps=5):
    path = str(tmp_path / 'walk.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps,
                             (WIDTH, HEIGHT))
    for t in range(frames):
        writer.write(_frame(t))
    writer.release()
    return path


def _read_all(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


def _args(body_model_root, *extra):
    return demo.parse_args(
        [CONFIG, 'none', '--body-model-root', body_model_root, *extra])


def test_video_writes_overlay_mp4(body_model_root, tmp_path):
    video = _video(tmp_path)
    out_dir = str(tmp_path / 'out')
    # Batches of 2 frames: 2 + 2 + 1, so frame order across batches counts.
    written = demo.run(
        _args(body_model_root, '--input', video, '--bbox', *map(str, BOX),
              '--out-dir', out_dir, '--batch-size', '2'))
    movie = osp.join(out_dir, 'walk_overlay.mp4')
    assert movie in written
    frames, fps = _read_all(movie)
    inputs, _ = _read_all(video)
    assert len(frames) == 5 and len(inputs) == 5
    assert frames[0].shape == (HEIGHT, WIDTH, 3) and fps == pytest.approx(5)
    for drawn, given in zip(frames, inputs):
        diff = np.abs(drawn.astype(int) - given.astype(int)).max(2)
        # The mesh is drawn in the person's crop window and nowhere else
        # (both videos are lossy: a few grey levels of noise).
        assert (diff[10:130, :100] > 60).sum() > 100
        assert diff[:, 110:].mean() < 6 and diff[140:].mean() < 6
    # Video defaults: parameters per frame, no .obj, no views strip, no
    # per-frame overlay PNG (the mp4 has them); no temporary files left.
    names = sorted(os.listdir(out_dir))
    assert names == sorted(['walk_overlay.mp4'] + [
        f'walk_{i:06d}_0_smpl.{e}' for i in range(5) for e in ('npz', 'json')
    ])
    with open(osp.join(out_dir, 'walk_000004_0_smpl.json')) as f:
        assert json.load(f)['bbox_xywh'] == BOX


def test_video_flags_and_coco_boxes(body_model_root, tmp_path):
    video = _video(tmp_path, frames=3)
    boxes = str(tmp_path / 'dets.json')
    with open(boxes, 'w') as f:
        # mmdet-style detections: image_id = frame index. Frame 1: only a
        # low-score person -> nobody; frame 2: no entry -> the whole frame.
        json.dump([
            dict(image_id=0, bbox=BOX, score=0.9, category_id=1),
            dict(image_id=1, bbox=BOX, score=0.05, category_id=1)
        ], f)
    out_dir = str(tmp_path / 'out')
    written = demo.run(
        _args(body_model_root, '--input', video, '--bbox-file', boxes,
              '--out-dir', out_dir, '--save-mesh', '--views', '0', '90'))
    stems = {osp.basename(p) for p in written}
    assert {
        'walk_000000_0.obj', 'walk_000000_0_views.png', 'walk_000002_0.obj',
        'walk_overlay.mp4'
    } <= stems
    assert not [s for s in stems if s.startswith('walk_000001')]
    with open(osp.join(out_dir, 'walk_000002_0_smpl.json')) as f:
        assert json.load(f)['bbox_xywh'] == [0, 0, WIDTH, HEIGHT]
    views = cv2.imread(osp.join(out_dir, 'walk_000000_0_views.png'))
    assert views.shape == (2 * 224, 3 * 224, 3)
    assert len(_read_all(osp.join(out_dir, 'walk_overlay.mp4'))[0]) == 3
    # --no-views / --no-save-mesh on an image turn its defaults off.
    image = str(tmp_path / 'person.png')
    cv2.imwrite(image, _frame(0))
    written = demo.run(
        _args(body_model_root, '--input',
              image, '--bbox', *map(str, BOX), '--out-dir',
              str(tmp_path / 'img'), '--no-views', '--no-save-mesh'))
    assert sorted(osp.basename(p) for p in written) == [
        'person_0_overlay.png', 'person_0_smpl.json', 'person_0_smpl.npz'
    ]


def test_cheap_overlay_matches_full_render(body_model_root):
    """The video overlay renders in the crop window at low resolution; it
    must cover the same pixels as the exact full-image render."""
    from mmhuman_imphmr.apis import inference_mesh, init_model
    from mmhuman_imphmr.visualization import MeshVisualizer
    torch.manual_seed(0)
    with pytest.warns(UserWarning):
        model = init_model(CONFIG, None, body_model_root=body_model_root)
    image = np.full((600, 800, 3), 170, np.uint8)
    person = inference_mesh(
        model, image, [[300, 100, 160, 400]], bbox_padding=1.2)[0]
    body = model.head.body_model
    vis = MeshVisualizer(
        name='overlay_test',
        faces=body.faces_tensor,
        focal_length=float(model.head.focal_length),
        crop_size=int(model.head.crop_size),
        alpha=1.0)
    # The crop window is 480 pixels wide: rendered at 256 and scaled.
    cheap = demo.overlay_people(image, [person], vis)
    full = cv2.cvtColor(
        vis.draw_mesh_on_image(
            cv2.cvtColor(image, cv2.COLOR_BGR2RGB), person['vertices'],
            person['cam'], person['bbox_center'], person['bbox_scale']),
        cv2.COLOR_RGB2BGR)
    mask_cheap = (cheap != image).any(2)
    mask_full = (full != image).any(2)
    assert mask_full.sum() > 1000
    iou = (mask_cheap & mask_full).sum() / (mask_cheap | mask_full).sum()
    assert iou > 0.9, iou


def test_non_finite_results_are_refused(body_model_root, tmp_path):
    from mmhuman_imphmr.apis import init_model
    with pytest.warns(UserWarning):
        model = init_model(CONFIG, None, body_model_root=body_model_root)
    # Finite weights (checkpoint loading refuses NaN) whose outputs
    # overflow: the pose decoder's sums of 1e38 * features are inf, so the
    # rotations and the mesh are NaN.
    state = model.state_dict()
    state['head.decpose.weight'].fill_(1e38)
    checkpoint = str(tmp_path / 'huge.pth')
    torch.save(dict(state_dict=state), checkpoint)
    image = str(tmp_path / 'person.png')
    cv2.imwrite(image, _frame(0))
    out_dir = str(tmp_path / 'out')
    args = demo.parse_args([
        CONFIG, checkpoint, '--input', image, '--bbox', *map(str, BOX),
        '--out-dir', out_dir, '--body-model-root', body_model_root
    ])
    with pytest.raises(ValueError, match=r'person: person 0 .*non-finite'):
        demo.run(args)
    assert not osp.exists(out_dir) or not os.listdir(out_dir)


def test_box_outside_and_bbox_file_typo_warn(body_model_root, tmp_path):
    image = str(tmp_path / 'person.png')
    cv2.imwrite(image, _frame(0))
    with pytest.warns(UserWarning, match='entirely outside the 200 x 160'):
        written = demo.run(
            _args(body_model_root, '--input', image, '--bbox', '500', '500',
                  '40', '100', '--out-dir', str(tmp_path / 'a')))
    assert written == []
    boxes = str(tmp_path / 'boxes.json')
    with open(boxes, 'w') as f:
        json.dump({'person.png': [[10, 10, 0, 30]]}, f)
    with pytest.raises(
            ValueError, match=r'person: box .* from .*boxes.json '
            'has no area'):
        demo.run(
            _args(body_model_root, '--input', image, '--bbox-file', boxes,
                  '--out-dir', str(tmp_path / 'c')))
    with open(boxes, 'w') as f:
        json.dump({'persn.png': [BOX]}, f)
    with pytest.warns(UserWarning, match=r'match no input.*"person.png"'):
        written = demo.run(
            _args(body_model_root, '--input', image, '--bbox-file', boxes,
                  '--out-dir', str(tmp_path / 'b'), '--no-views'))
    # Like an image without an entry: the whole image.
    with open(osp.join(str(tmp_path / 'b'), 'person_0_smpl.json')) as f:
        assert json.load(f)['bbox_xywh'] == [0, 0, WIDTH, HEIGHT]
