"""MeshVisualizer: camera placement, strip layout, part colours, backends."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmhuman_imphmr.body_models import SMPL
from mmhuman_imphmr.visualization import (BODY_PARTS, MeshVisualizer,
                                          body_part_colors, vertex_part_labels)


@pytest.fixture(scope='module')
def smpl(body_model_root):
    return SMPL(model_path=body_model_root)


@pytest.fixture(scope='module')
def mean_mesh(smpl):
    """Vertices of the upright mean-shape body facing the camera."""
    with torch.no_grad():
        out = smpl(
            global_orient=torch.tensor([[np.pi, 0.0, 0.0]]),
            body_pose=torch.zeros(1, 69),
            betas=torch.zeros(1, 10))
    return out['vertices'][0]


def _visualizer(smpl, name, **kwargs):
    return MeshVisualizer(
        name=name,
        faces=smpl.faces_tensor,
        lbs_weights=smpl.smpl.lbs_weights,
        **kwargs)


def test_full_image_overlay_matches_crop(smpl, mean_mesh):
    """A crop whose side in the image equals its size in pixels is a 1:1
    window of the image around ``bbox_center``: the mesh drawn into the full
    image through the crop transform must cover exactly the pixels it
    covers in the crop, shifted by ``center - size / 2``."""
    vis = _visualizer(smpl, 'test_overlay')
    cam = torch.tensor([0.9, 0.02, 0.1])
    size, center = 64, (100.0, 80.0)
    white_crop = np.full((size, size, 3), 255, np.uint8)
    crop = vis.draw_mesh_on_crop(white_crop, mean_mesh, cam, alpha=1.0)
    image = np.full((160, 200, 3), 255, np.uint8)
    full = vis.draw_mesh_on_image(
        image, mean_mesh, cam, center, (size, size), alpha=1.0)
    crop_mask = (crop != 255).any(-1)
    full_mask = (full != 255).any(-1)
    x0, y0 = int(center[0] - size / 2), int(center[1] - size / 2)
    window = full_mask[y0:y0 + size, x0:x0 + size]
    assert crop_mask.sum() > 200  # the body is visible at all
    assert (window == crop_mask).mean() > 0.995
    assert full_mask.sum() == window.sum()  # nothing outside the window


def test_imagined_views_strip_layout(smpl, mean_mesh):
    vis = _visualizer(smpl, 'test_strip', view_size=48)
    crop = np.zeros((32, 32, 3), np.uint8)
    verts = mean_mesh[None].repeat(4, 1, 1)
    cams = torch.tensor([[0.9, 0.0, 0.1]]).repeat(4, 1)
    one_row = vis.draw_imagined_views(crop, verts, cams, [0, 90, 180, 270])
    assert one_row.shape == (48, 5 * 48, 3) and one_row.dtype == np.uint8
    silh = torch.zeros(4, 16, 16)
    silh[:, 4:12, 6:10] = 1.0
    two_rows = vis.draw_imagined_views(crop, verts, cams, [0, 90, 180, 270],
                                       silh)
    assert two_rows.shape == (96, 5 * 48, 3)
    # The silhouette panel of view 1 is white where the head said "body"
    # (centre of the 6:10 x 4:12 box, scaled by 48 / 16 = 3) and black away.
    panel = two_rows[48:, 48:96]
    assert panel[24, 24].min() == 255 and panel[40, 5].max() == 0
    with pytest.raises(ValueError, match='azimuths'):
        vis.draw_imagined_views(crop, verts[:3], cams, [0, 90, 180, 270])


def test_turned_mesh_changes_width(smpl, mean_mesh):
    """Seen from the side (90 degrees), a body in the T-pose-like mean pose
    is much narrower than from the front (the arms point at the camera)."""
    vis = _visualizer(smpl, 'test_turn')
    cam = torch.tensor([0.8, 0.0, 0.0])
    front = (vis.draw_turned_mesh(mean_mesh, cam, 0.0, size=96) != 255).any(-1)
    side = (vis.draw_turned_mesh(mean_mesh, cam, 90.0, size=96) != 255).any(-1)
    width = lambda m: np.ptp(np.nonzero(m.any(0))[0])  # noqa: E731
    assert width(side) < 0.8 * width(front)


def test_body_part_colors(smpl):
    labels = vertex_part_labels(smpl.smpl.lbs_weights)
    assert labels.shape == (6890, ) and labels.min() >= 0
    assert labels.max() < len(BODY_PARTS)
    colors = body_part_colors(smpl.smpl.lbs_weights)
    assert colors.shape == (6890, 3)
    names = list(BODY_PARTS)
    left = colors[labels == names.index('left_arm')]
    right = colors[labels == names.index('right_arm')]
    assert len(left) and len(right) and not torch.allclose(left[0], right[0])
    # One-hot weights on joint 18 (left_elbow) put the vertex in left_arm.
    onehot = torch.zeros(1, 24)
    onehot[0, 18] = 1.0
    assert names[vertex_part_labels(onehot)[0]] == 'left_arm'
    with pytest.raises(ValueError, match='lbs_weights'):
        vertex_part_labels(torch.zeros(5, 10))


def test_add_datasample_writes_through_local_backend(smpl, mean_mesh,
                                                     tmp_path):
    from mmhuman_imphmr.structures import MeshDataSample
    vis = _visualizer(
        smpl,
        'test_backend',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    sample = MeshDataSample()
    sample.pred_vertices = mean_mesh
    sample.pred_cam = torch.tensor([0.9, 0.0, 0.1])
    sample.gt_keypoints2d = torch.tensor([[0.0, 0.0, 1.0]] * 49)
    image = np.full((40, 40, 3), 30, np.uint8)
    drawn = vis.add_datasample('val_sample_3', image, sample, step=2)
    assert drawn.shape == (40, 120, 3)
    # The GT keypoint (crop centre) is drawn green on the first panel.
    assert drawn[20, 20, 1] > 150
    path = osp.join(tmp_path, 'vis_data', 'vis_image', 'val_sample_3_2.png')
    assert osp.isfile(path)
    with pytest.raises(KeyError, match='pred_cam'):
        bad = MeshDataSample()
        bad.pred_vertices = mean_mesh
        vis.add_datasample('bad', image, bad)
