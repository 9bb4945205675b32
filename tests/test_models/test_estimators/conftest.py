"""Estimator test fixtures: real configs, synthetic body, tiny batches."""
import math
import os.path as osp
from typing import List, Optional, Tuple, Union

import pytest
import torch
from mmengine.config import Config

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs')


def small_model_cfg(config: str,
                    body_model_root: str,
                    overrides: Optional[dict] = None) -> Config:
    """The ``model`` of a real config, made cheap for CPU tests.

    Changes: pretrained init off, the synthetic body model, and a 16-wide
    silhouette decoder (the paper's 256-wide one costs ~6 GMAC per sample at
    128x128 and does not change any logic under test). Backbone and neck keep
    their real widths. ``overrides`` are dotted keys under ``model``.
    """
    full = Config.fromfile(osp.join(CONFIG_DIR, config))
    full.merge_from_dict({
        f'model.{k}': v
        for k, v in (overrides or {}).items()
    })
    cfg = full.model
    cfg.init_cfg = None
    cfg.backbone.init_cfg = None
    cfg.head.mean_params = osp.join(body_model_root, 'smpl_mean_params.npz')
    cfg.head.body_model.model_path = body_model_root
    if cfg.get('silhouette_head') is not None:
        cfg.silhouette_head.channels = (16, ) * 5
    return cfg


# label type -> (has_smpl, has_kp3d) of its samples.
LABELS = {'gt3d': (1., 1.), 'pseudo_smpl': (1., 0.), '2d_only': (0., 0.)}


def make_batch(body_model_root: str,
               labels: List[Union[str, float]],
               crop: int = 64,
               seed: int = 0) -> Tuple[torch.Tensor, list]:
    """Images and data samples whose GT is a consistent synthetic body.

    ``labels``: one label type per sample (``'gt3d'``, ``'pseudo_smpl'``,
    ``'2d_only'``, written into the metainfo as the pack transform does), or
    a float ``has_smpl`` (1: SMPL + 3D joints, 0: 2D only) for a sample
    without a declared type.

    The GT is the synthetic SMPL posed upright (global orient pi about x, as
    in SPIN's mean pose) with small random pose/shape; 2D keypoints are its
    joints projected with the weak-perspective camera (0.9, 0, 0), so that
    the GT-camera fit of the silhouette targets has something real to fit.
    """
    from mmhuman_imphmr.body_models import SMPL
    from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample
    from mmhuman_imphmr.utils.geometry import (perspective_projection,
                                               weak_perspective_to_translation)
    g = torch.Generator().manual_seed(seed)
    num = len(labels)
    smpl = SMPL(model_path=body_model_root)
    orient = torch.tensor([[math.pi, 0., 0.]]).repeat(num, 1)
    body_pose = 0.1 * torch.randn(num, 69, generator=g)
    betas = 0.5 * torch.randn(num, 10, generator=g)
    with torch.no_grad():
        out = smpl(global_orient=orient, body_pose=body_pose, betas=betas)
    cam = torch.tensor([[0.9, 0., 0.]]).repeat(num, 1)
    kp2d = perspective_projection(out['joints'],
                                  weak_perspective_to_translation(cam))
    samples = []
    for i in range(num):
        s = MeshDataSample(metainfo=dict(sample_idx=i, gender='neutral'))
        if isinstance(labels[i], str):
            s.set_metainfo(dict(label_type=labels[i]))
            has_smpl, has_kp3d = LABELS[labels[i]]
        else:
            has_smpl = has_kp3d = float(labels[i])
        s.gt_keypoints2d = torch.cat([kp2d[i], torch.ones(49, 1)], dim=1)
        s.gt_keypoints3d = torch.cat(
            [out['joints'][i, 25:], torch.ones(24, 1)], dim=1)
        s.gt_global_orient = orient[i]
        s.gt_body_pose = body_pose[i]
        s.gt_betas = betas[i]
        s.has_smpl = torch.tensor(has_smpl)
        s.has_kp3d = torch.tensor(has_kp3d)
        samples.append(s)
    inputs = torch.randn(num, 3, crop, crop, generator=g)
    return inputs, samples


@pytest.fixture(scope='module')
def build_model(body_model_root, init_weights_quietly):
    """``build_model(config, overrides=None) -> ImpHMR`` (small_model_cfg)."""
    from mmhuman_imphmr.registry import MODELS
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    register_all_modules()

    def build(config: str, overrides: Optional[dict] = None):
        cfg = small_model_cfg(config, body_model_root, overrides)
        torch.manual_seed(0)
        return init_weights_quietly(MODELS.build(cfg))

    return build


@pytest.fixture(scope='module')
def batch(body_model_root):
    """``batch(labels, crop=64, seed=0) -> (inputs, data_samples)``."""

    def make(labels, crop: int = 64, seed: int = 0):
        return make_batch(body_model_root, labels, crop, seed)

    return make
