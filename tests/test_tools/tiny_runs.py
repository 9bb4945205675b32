"""A tiny model, data set and config for in-process runs of the tools' code
(``mmhuman_imphmr.engine.cli`` + ``build_runner``): a 3 -> 10 linear layer
on 16 x 16 crops, a few seconds per run on CPU."""
import os.path as osp
import uuid

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from mmhuman_imphmr.datasets import save_human_data
from mmhuman_imphmr.registry import HOOKS, MODELS


@MODELS.register_module(force=True)
class FlagTestRegressor(BaseModel):
    """Predicts betas from the mean colour; ``predict`` writes the
    ``pred_betas_views`` that ESVMetric reads."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.fc = nn.Linear(3, 10)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        pred = self.fc(inputs.float().mean(dim=(2, 3)))
        if mode == 'loss':
            gt = torch.stack([s.gt_betas for s in data_samples])
            return dict(loss_betas=((pred - gt)**2).mean())
        if mode == 'predict':
            for sample, p in zip(data_samples, pred):
                sample.pred_betas_views = p.detach()[None].repeat(4, 1)
            return data_samples
        return pred


@HOOKS.register_module(force=True)
class RecordLrHook(Hook):
    """Keeps the lr of every training iteration (before its step)."""

    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def write_data(root: str, num: int = 4) -> str:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(num):
        name = f'img_{i}.png'
        cv2.imwrite(
            osp.join(root, name),
            rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
        paths.append(name)
    ann = osp.join(root, 'tiny.npz')
    save_human_data(
        ann,
        dict(
            image_path=np.array(paths),
            bbox_xywh=np.tile([[4., 4., 32., 32., 1.]], (num, 1)),
            keypoints2d=rng.uniform(4, 36, (num, 49, 3)).astype(np.float32),
            keypoints2d_convention='smpl_49',
            smpl=dict(
                global_orient=np.zeros((num, 3)),
                body_pose=np.zeros((num, 69)),
                betas=rng.normal(size=(num, 10)))))
    return ann


def tiny_config(root: str, max_epochs: int = 2, **extra) -> Config:
    """A config of the project's shape (runtime hooks, validation every
    epoch, the untrained-model validation, an lr schedule) over the tiny
    model. Batches of 2 over 4 images: 2 iterations per epoch."""
    ann = write_data(root)
    dataset = dict(
        type='HumanImageDataset',
        ann_file=ann,
        dataset_name='d',
        data_prefix=dict(img_path=root),
        pipeline=[
            dict(type='mmpose.LoadImage'),
            dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
            dict(type='mmpose.TopdownAffine', input_size=(16, 16)),
            dict(type='PackMeshInputs')
        ])
    eval_loader = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(dataset, test_mode=True))
    cfg = dict(
        default_scope='mmhuman_imphmr',
        model=dict(
            type='FlagTestRegressor',
            data_preprocessor=dict(
                type='ImgDataPreprocessor', mean=[127.5] * 3,
                std=[127.5] * 3)),
        train_dataloader=dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dataset),
        val_dataloader=eval_loader,
        test_dataloader=eval_loader,
        val_evaluator=dict(type='ESVMetric'),
        test_evaluator=dict(type='ESVMetric'),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=[],
        auto_scale_lr=dict(base_batch_size=8, enable=False),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='AtomicCheckpointHook', interval=1)),
        custom_hooks=[
            dict(type='ValidateBeforeTrainHook'),
            dict(type='RecordLrHook')
        ],
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='nccl')),
        log_level='INFO',
        # MMEngine names a run's logger after the experiment and the second
        # it started; a unique name keeps two runs of one second apart.
        experiment_name=f'tiny_{uuid.uuid4().hex[:8]}')
    cfg.update(extra)
    return Config(cfg)


def lr_hook(runner) -> RecordLrHook:
    return next(h for h in runner.hooks if isinstance(h, RecordLrHook))
