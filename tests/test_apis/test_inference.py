"""init_model / inference_mesh on the CPU quick-start config."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmhuman_imphmr.apis import (inference_mesh, inference_mesh_batch,
                                 init_model, load_checkpoint_state_dict)

CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'imphmr_r18_synthetic.py')


@pytest.fixture(scope='module')
def model(body_model_root):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='FRESHLY INITIALISED'):
        return init_model(CONFIG, None, body_model_root=body_model_root)


def _image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)


def test_outputs_and_full_image_camera(model):
    people = inference_mesh(
        model,
        _image(), [[40, 10, 50, 100], [0, 0, 30, 30]],
        bbox_padding=1.2,
        views_deg=[0, 180])
    assert len(people) == 2
    p = people[0]
    assert p['vertices'].shape == (6890, 3) and p['body_pose'].shape == (69, )
    assert p['view_vertices'].shape == (2, 6890, 3)
    assert p['view_silhouettes'].shape[0] == 2
    assert 0 <= p['view_silhouettes'].min() <= p['view_silhouettes'].max() <= 1
    # Box (40, 10, 50, 100): centre (65, 60); the square crop side is the
    # longer side times the padding, 100 * 1.2 = 120.
    np.testing.assert_allclose(p['bbox_center'], [65, 60], atol=1e-4)
    np.testing.assert_allclose(p['bbox_scale'], [120, 120], rtol=1e-5)
    # The returned full-image pinhole must put the 3D joints (plus the
    # camera translation) where the model's own 2D keypoints are: SPIN's
    # crop projection f X / Z / (crop / 2) mapped to the image by
    # center + k * scale / 2 equals a pinhole with focal f * scale / crop.
    pts = p['keypoints3d'] + p['translation']
    uv = p['principal_point'] + p['focal_length'] * pts[:, :2] / pts[:, 2:]
    np.testing.assert_allclose(uv, p['keypoints2d'], atol=1e-2)
    # Canonical view of predict_views = predict.
    np.testing.assert_allclose(p['view_vertices'][0], p['vertices'], atol=1e-4)


def test_whole_image_default_and_bad_box(model):
    people = inference_mesh(model, _image())
    assert len(people) == 1
    np.testing.assert_allclose(people[0]['bbox_xywh'], [0, 0, 160, 120])
    with pytest.raises(ValueError, match='no area'):
        inference_mesh(model, _image(), [[0, 0, 0, 10]])


def test_batch_equals_one_image_at_a_time(model):
    """Frames batched through the model (in chunks of 2 crops, so a chunk
    spans two images) give each image's own single-image result, with the
    per-image paddings and the whole image for an image without boxes."""
    rng = np.random.default_rng(1)
    images = [
        _image(),
        rng.integers(0, 255, (90, 70, 3), dtype=np.uint8),
        _image()[::-1].copy()
    ]
    boxes = [[[40, 10, 50, 100], [0, 0, 30, 30]], None, [[5, 5, 60, 80]]]
    paddings = [1.2, None, 1.0]
    batched = inference_mesh_batch(
        model, images, boxes, paddings, views_deg=[0, 90], batch_size=2)
    assert [len(p) for p in batched] == [2, 1, 1]
    np.testing.assert_allclose(batched[1][0]['bbox_xywh'], [0, 0, 70, 90])
    for image, box, pad, people in zip(images, boxes, paddings, batched):
        single = inference_mesh(
            model, image, box, bbox_padding=pad, views_deg=[0, 90])
        for a, b in zip(people, single):
            for key in ('bbox_xywh', 'bbox_scale', 'vertices', 'cam',
                        'view_vertices'):
                np.testing.assert_allclose(
                    a[key], b[key], atol=1e-4, err_msg=key)
    with pytest.raises(ValueError, match='3 images but 2 box lists'):
        inference_mesh_batch(model, images, boxes[:2])


def test_checkpoint_roundtrip_with_mmengine_meta(model, body_model_root,
                                                 tmp_path):
    """A checkpoint as MMEngine saves it (message hub with HistoryBuffer,
    numpy values in meta) loads with safe loading and reproduces the
    predictions of the model it was saved from."""
    from mmengine.logging.history_buffer import HistoryBuffer
    path = str(tmp_path / 'epoch_1.pth')
    hub = dict(loss=HistoryBuffer([1.0, 2.0], [1, 1]))
    torch.save(
        dict(
            meta=dict(epoch=1, seed=np.int64(3)),
            message_hub=hub,
            state_dict={
                'module.' + k: v
                for k, v in model.state_dict().items()
            }), path)
    assert set(load_checkpoint_state_dict(path)) == set(model.state_dict())
    loaded = init_model(CONFIG, path, body_model_root=body_model_root)
    a = inference_mesh(model, _image())[0]
    b = inference_mesh(loaded, _image())[0]
    np.testing.assert_allclose(a['vertices'], b['vertices'], atol=1e-5)
    # A checkpoint of another architecture misses most keys.
    key = 'backbone.conv1.weight'
    torch.save(
        dict(state_dict={key: model.state_dict()[key]}),
        str(tmp_path / 'bad.pth'))
    with pytest.raises(RuntimeError, match='missing in checkpoint'):
        init_model(
            CONFIG, str(tmp_path / 'bad.pth'), body_model_root=body_model_root)


def test_missing_body_model_root_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match='SMPL_NEUTRAL.pkl'):
        init_model(CONFIG, None, body_model_root=str(tmp_path / 'nothing'))
