"""Two CPU processes through tools/dist_train.sh (torchrun + gloo + DDP).

The test writes its own tiny config: a 3->10 linear model on the mean colour
of the crop (registered from a module the test writes), two HumanData files
with real images, the real pipeline (mmpose crop + PackMeshInputs) and the
mixing sampler over a ConcatDataset. It checks that (1) both ranks end with
identical weights (DDP all-reduces the gradients although the ranks saw
different data) and (2) each rank saw exactly its slice of the sampler's
global draw, and the two slices differ. Then tools/test.py evaluates the
checkpoint and writes --out / --dump, and tools/train.py --resume goes on.
"""
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets import MixDatasetSampler, save_human_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SIZES = (5, 4)  # 5: the 2-rank test split needs a padded sample

TINY_MODULES = '''
import os.path as osp
import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmhuman_imphmr.registry import HOOKS, MODELS


@MODELS.register_module()
class TinyRegressor(BaseModel):
    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.fc = nn.Linear(3, 10)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        pred = self.fc(inputs.float().mean(dim=(2, 3)))
        if mode == 'loss':
            gt = torch.stack([s.gt_betas for s in data_samples])
            return dict(loss_betas=((pred - gt) ** 2).mean())
        if mode == 'predict':  # a view-invariant "ESV" for tools/test.py
            for sample, p in zip(data_samples, pred):
                sample.pred_betas_views = p.detach()[None].repeat(4, 1)
            return data_samples
        return pred


@MODELS.register_module()
class NaNOnceRegressor(TinyRegressor):
    """Rank 0's loss is NaN in its 2nd training step, rank 1's is finite."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.train_cfg = dict(nonfinite_loss='skip')
        self.steps = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = super().forward(inputs, data_samples, mode)
        if mode == 'loss':
            self.steps += 1
            if self.steps == 2 and get_rank() == 0:
                out['loss_betas'] = out['loss_betas'] * float('nan')
        return out


@HOOKS.register_module()
class RecordRankHook(Hook):
    def __init__(self):
        self.seen = []
        self.weights = []

    def before_train(self, runner):
        self.weights.append(self._model(runner).fc.weight.detach().clone())

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.seen += [s.img_path for s in data_batch['data_samples']]
        self.weights.append(self._model(runner).fc.weight.detach().clone())

    def after_run(self, runner):
        torch.save(dict(seen=self.seen, state=self._model(runner).state_dict(),
                        weights=self.weights,
                        skipped=runner.message_hub.get_info(
                            'nonfinite_skipped', 0)),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pt'))

    @staticmethod
    def _model(runner):
        return getattr(runner.model, 'module', runner.model)
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _write_data(root):
    rng = np.random.default_rng(0)
    files = []
    for d, num in enumerate(SIZES):
        paths = []
        for i in range(num):
            name = f'd{d}_{i}.png'
            cv2.imwrite(
                osp.join(root, name),
                rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
            paths.append(name)
        npz = osp.join(root, f'd{d}.npz')
        save_human_data(
            npz,
            dict(
                image_path=np.array(paths),
                bbox_xywh=np.tile([[4., 4., 32., 32., 1.]], (num, 1)),
                keypoints2d=rng.uniform(4, 36,
                                        (num, 49, 3)).astype(np.float32),
                keypoints2d_convention='smpl_49',
                smpl=dict(
                    global_orient=np.zeros((num, 3)),
                    body_pose=np.zeros((num, 69)),
                    betas=rng.normal(size=(num, 10)))))
        files.append(npz)
    return files


def _config(tmp, files, model='TinyRegressor', max_epochs=1):
    datasets = [
        dict(
            type='HumanImageDataset',
            ann_file=f,
            dataset_name=f'd{d}',
            data_prefix=dict(img_path=tmp),
            pipeline=[
                dict(type='mmpose.LoadImage'),
                dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
                dict(type='mmpose.TopdownAffine', input_size=(16, 16)),
                dict(type='PackMeshInputs')
            ]) for d, f in enumerate(files)
    ]
    return textwrap.dedent(f'''
        default_scope = 'mmhuman_imphmr'
        custom_imports = dict(imports=['tiny_modules'],
                              allow_failed_imports=False)
        model = dict(type={model!r},
                     data_preprocessor=dict(type='ImgDataPreprocessor',
                                            mean=[127.5] * 3,
                                            std=[127.5] * 3))
        train_dataloader = dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='MixDatasetSampler', partition=[0.5, 0.5],
                         num_samples=8, seed=0),
            dataset=dict(type='ConcatDataset', datasets={datasets!r}))
        train_cfg = dict(by_epoch=True, max_epochs={max_epochs})
        optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
        default_hooks = dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1),
            sampler_seed=dict(type='DistSamplerSeedHook'))
        custom_hooks = [dict(type='RecordRankHook')]
        test_dataloader = dict(
            batch_size=3, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset={dict(datasets[0], test_mode=True)!r})
        test_cfg = dict(type='TestLoop')
        test_evaluator = dict(type='ESVMetric')
        env_cfg = dict(dist_cfg=dict(backend='nccl'))  # train.py -> gloo
        randomness = dict(seed=0)
        ''')


def _dist_train(tmp, **config):
    """Write the data and config, run dist_train.sh on 2 processes.

    Returns what RecordRankHook saved on each rank, the work dir, the
    environment and the process (stdout/stderr for log checks).
    """
    files = _write_data(tmp)
    with open(osp.join(tmp, 'tiny_modules.py'), 'w') as f:
        f.write(TINY_MODULES)
    with open(osp.join(tmp, 'tiny_config.py'), 'w') as f:
        f.write(_config(tmp, files, **config))
    work_dir = osp.join(tmp, 'work')
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(_free_port()),
        PYTHONPATH=tmp,
        OMP_NUM_THREADS='1')
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'),
        osp.join(tmp, 'tiny_config.py'), '2', '--work-dir', work_dir
    ],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [
        torch.load(osp.join(work_dir, f'rank{r}.pt'), weights_only=False)
        for r in range(2)
    ]
    return ranks, work_dir, env, proc


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU/gloo path')
def test_two_process_cpu_training(tmp_path, monkeypatch):
    tmp = str(tmp_path)
    ranks, work_dir, env, _ = _dist_train(tmp)
    # (1) identical weights on both ranks.
    for key, value in ranks[0]['state'].items():
        torch.testing.assert_close(
            value, ranks[1]['state'][key], rtol=0, atol=0)
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    # (2) each rank saw its slice of the global draw of the sampler.
    import mmhuman_imphmr.datasets.samplers as samplers
    monkeypatch.setattr(samplers, 'get_dist_info', lambda: (0, 2))
    fake = type(
        'Concat', (),
        dict(
            datasets=[[0] * n for n in SIZES],
            cumulative_sizes=list(np.cumsum(SIZES))))()
    draw = MixDatasetSampler(
        fake, [0.5, 0.5], num_samples=8, seed=0).global_indices(0)
    names = [
        osp.join(tmp, f'd{d}_{i}.png') for d, n in enumerate(SIZES)
        for i in range(n)
    ]
    for r in range(2):
        assert ranks[r]['seen'] == [names[i] for i in draw[r::2]]
    assert ranks[0]['seen'] != ranks[1]['seen']

    # tools/test.py on the checkpoint: the tiny model's latent does not use
    # phi, so it predicts the same betas for all 4 "views": ESV is exactly 0
    # and flagged esv_view_constant (its betas do depend on the image, so
    # esv stays 0.0 rather than NaN); one dumped sample per image.
    out, dump = osp.join(tmp, 'metrics.json'), osp.join(tmp, 'preds.pkl')
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'test.py'),
        osp.join(tmp, 'tiny_config.py'),
        osp.join(work_dir, 'epoch_1.pth'), '--work-dir', work_dir, '--out',
        out, '--dump', dump
    ],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        metrics = json.load(f)
    assert metrics['esv'] == metrics['esv_raw'] == 0.0
    assert (metrics['esv_view_constant'], metrics['esv_image_blind'],
            metrics['esv_dead_field']) == (1.0, 0.0, 0.0)
    with open(dump, 'rb') as f:
        single = pickle.load(f)
    assert [s['img_path'] for s in single] == \
        [osp.join(tmp, f'd0_{i}.png') for i in range(SIZES[0])]

    # tools/dist_test.sh on 2 processes: each rank predicts 3 of the 5
    # images (the sampler pads rank 1 with a repeat); the collected dump
    # must be the single-process one, same order, no repeat.
    dist_dump = osp.join(tmp, 'preds_dist.pkl')
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_test.sh'),
        osp.join(tmp, 'tiny_config.py'),
        osp.join(work_dir, 'epoch_1.pth'), '2', '--work-dir', work_dir,
        '--dump', dist_dump
    ],
                          env=dict(env, PORT=str(_free_port())),
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(dist_dump, 'rb') as f:
        collected = pickle.load(f)
    assert [s['img_path'] for s in collected] == \
        [s['img_path'] for s in single]
    for a, b in zip(collected, single):
        torch.testing.assert_close(a['pred_betas_views'],
                                   b['pred_betas_views'])

    # --resume through the restricted checkpoint loader (torch >= 2.6 loads
    # weights-only by default; mmengine checkpoints hold HistoryBuffers).
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(tmp, 'tiny_config.py'), '--work-dir', work_dir, '--resume',
        osp.join(work_dir, 'epoch_1.pth'), '--cfg-options',
        'train_cfg.max_epochs=2'
    ],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU/gloo path')
def test_two_process_nonfinite_step_is_skipped_on_both_ranks(tmp_path):
    # dist_train.sh wraps the model in NonFiniteCheckDDP (the default of
    # tools/train.py): rank 0's NaN in its 2nd step makes BOTH ranks skip
    # that update (rank 1's loss was finite), the other 3 steps train, and
    # the ranks stay identical. With mmengine's plain wrapper rank 0 would
    # all-reduce NaN gradients into both models.
    ranks, _, _, proc = _dist_train(
        str(tmp_path), model='NaNOnceRegressor', max_epochs=2)
    log = proc.stdout + proc.stderr
    for r in range(2):
        weights = ranks[r]['weights']  # before training, after each step
        assert len(weights) == 1 + 4
        changed = [
            not torch.equal(a, b) for a, b in zip(weights[:-1], weights[1:])
        ]
        assert changed == [True, False, True, True]
        assert all(torch.isfinite(w).all() for w in weights)
        assert ranks[r]['skipped'] == 1
        for a, b in zip(weights, ranks[1 - r]['weights']):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Rank 0 (the one that prints) names the term and its batch.
    assert 'skipping a step with non-finite loss (1 so far) at iteration 1, ' \
        "non-finite terms ['loss_betas']" in log
    assert 'loss: nan' not in log  # the skipped NaN is not averaged in
