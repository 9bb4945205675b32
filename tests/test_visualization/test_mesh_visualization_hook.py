"""MeshVisualizationHook driven by hand-made validation outputs."""
import glob
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import torch

from mmhuman_imphmr.body_models import SMPL
from mmhuman_imphmr.engine.hooks import MeshVisualizationHook
from mmhuman_imphmr.registry import HOOKS
from mmhuman_imphmr.structures import MeshDataSample


def _outputs(smpl, num):
    with torch.no_grad():
        verts = smpl(
            global_orient=torch.tensor([[np.pi, 0.0, 0.0]]),
            body_pose=torch.zeros(1, 69),
            betas=torch.zeros(1, 10))['vertices'][0]
    samples = []
    for i in range(num):
        s = MeshDataSample(metainfo=dict(sample_idx=10 + i))
        s.pred_vertices = verts
        s.pred_cam = torch.tensor([0.9, 0.0, 0.1])
        s.gt_keypoints2d = torch.zeros(49, 3)
        samples.append(s)
    return samples


def test_hook_writes_a_few_samples_per_epoch(body_model_root, tmp_path):
    smpl = SMPL(model_path=body_model_root)
    runner = SimpleNamespace(
        visualizer=None,
        log_dir=str(tmp_path),
        epoch=3,
        iter=30,
        train_loop=SimpleNamespace(max_epochs=5),
        model=SimpleNamespace(head=SimpleNamespace(body_model=smpl)))
    hook = HOOKS.build(dict(type='MeshVisualizationHook', max_samples=2))
    assert isinstance(hook, MeshVisualizationHook)
    data_batch = dict(inputs=[
        torch.full((3, 48, 48), 80, dtype=torch.uint8) for _ in range(3)
    ])
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0, data_batch, _outputs(smpl, 3))
    hook.after_val_iter(runner, 1, data_batch, _outputs(smpl, 3))
    files = sorted(
        glob.glob(osp.join(tmp_path, 'vis_data', 'vis_image', '*.png')))
    # max_samples=2 per epoch: the first two samples of the first batch,
    # stepped by the epoch.
    assert [osp.basename(f)
            for f in files] == ['val_sample_10_3.png', 'val_sample_11_3.png']
    image = cv2.imread(files[0])
    assert image.shape == (48, 3 * 48, 3)
    # The next epoch draws again.
    runner.epoch = 4
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0, data_batch, _outputs(smpl, 1))
    assert osp.isfile(
        osp.join(tmp_path, 'vis_data', 'vis_image', 'val_sample_10_4.png'))


def test_disabled_hook_writes_nothing(body_model_root, tmp_path):
    runner = SimpleNamespace(visualizer=None, log_dir=str(tmp_path))
    hook = MeshVisualizationHook(enable=False)
    hook.after_val_iter(runner, 0, dict(inputs=[]), [])
    assert not glob.glob(osp.join(tmp_path, '**', '*.png'), recursive=True)
