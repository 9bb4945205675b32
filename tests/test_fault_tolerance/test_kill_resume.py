"""A run SIGKILLed mid-epoch and resumed ends with the uninterrupted weights.

The real ImpHMR estimator (it draws phi and the field's density noise from
torch's global RNG) with a ResNet-18 on 64x64 crops is trained through
``tools/train.py`` for 3 epochs of 2 iterations with the project's runtime
(FaultTolerantRunner, AtomicCheckpointHook, EpochSeedHook), random flips
(numpy RNG), deterministic mode and a fixed seed. Run A is uninterrupted. Run
B is killed with SIGKILL before iteration 3 (inside epoch 2), then
``--resume`` restarts it from ``epoch_1.pth``. Equality is exact (atol=0):
the same arithmetic on the same inputs in the same order on CPU.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch

from mmhuman_imphmr.datasets import save_human_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))


def _write_data(root: str) -> str:
    rng = np.random.default_rng(0)
    num = 4
    paths = []
    for i in range(num):
        cv2.imwrite(
            osp.join(root, f'{i}.png'),
            rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        paths.append(f'{i}.png')
    npz = osp.join(root, 'tiny.npz')
    save_human_data(
        npz,
        dict(
            image_path=np.array(paths),
            bbox_xywh=np.tile([[2., 2., 28., 28., 1.]], (num, 1)),
            keypoints2d=rng.uniform(2, 30, (num, 49, 3)).astype(np.float32),
            keypoints2d_convention='smpl_49',
            # half with SMPL labels (L_imag), half without (L_cons)
            has_smpl=np.array([1, 0, 1, 0]),
            smpl=dict(
                global_orient=np.tile([[np.pi, 0., 0.]], (num, 1)),
                body_pose=0.1 * rng.normal(size=(num, 69)),
                betas=0.5 * rng.normal(size=(num, 10)))))
    return npz


def _config(tmp: str, npz: str, body_model_root: str, kill_iter=None) -> str:
    hooks = [dict(type='EpochSeedHook')]
    if kill_iter is not None:
        hooks.append(dict(type='SigkillAtIterHook', kill_iter=kill_iter))
    return textwrap.dedent(f'''
        _base_ = [{osp.join(ROOT, 'configs', 'imphmr_r18_synthetic.py')!r}]
        custom_imports = dict(imports=['kill_hook'],
                              allow_failed_imports=False)
        model = dict(
            init_cfg=None,
            head=dict(
                mean_params={body_model_root + '/smpl_mean_params.npz'!r},
                body_model=dict(model_path={body_model_root!r})),
            neck=dict(hidden_dim=16, num_samples=4),
            silhouette_head=dict(channels=(4, ) * 5))
        pipeline = [
            dict(type='mmpose.LoadImage'),
            dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
            dict(type='RandomFlipSMPL', prob=0.5),
            dict(type='mmpose.TopdownAffine', input_size=(64, 64)),
            dict(type='PackMeshInputs'),
        ]
        train_dataloader = dict(
            _delete_=True, batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(type='HumanImageDataset', ann_file={npz!r},
                         data_prefix=dict(img_path={tmp!r}),
                         pipeline=pipeline))
        train_cfg = dict(_delete_=True, by_epoch=True, max_epochs=3)
        val_dataloader = None
        val_cfg = None
        val_evaluator = None
        test_dataloader = None
        test_cfg = None
        test_evaluator = None
        default_hooks = dict(
            logger=dict(interval=1),
            checkpoint=dict(interval=1, save_best=None, max_keep_ckpts=1))
        custom_hooks = {hooks!r}
        randomness = dict(seed=3, deterministic=True)
        ''')


def _train(cfg: str, work_dir: str, env: dict, resume: bool = False):
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), cfg, '--work-dir', work_dir
    ] + (['--resume'] if resume else [])
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU determinism')
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, body_model_root):
    tmp = str(tmp_path)
    npz = _write_data(tmp)
    env = dict(
        os.environ, PYTHONPATH=HERE + os.pathsep + ROOT, OMP_NUM_THREADS='1')
    cfg_a, cfg_b = osp.join(tmp, 'a.py'), osp.join(tmp, 'b.py')
    with open(cfg_a, 'w') as f:
        f.write(_config(tmp, npz, body_model_root))
    with open(cfg_b, 'w') as f:
        f.write(_config(tmp, npz, body_model_root, kill_iter=3))
    wa, wb = osp.join(tmp, 'wa'), osp.join(tmp, 'wb')

    done = _train(cfg_a, wa, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    killed = _train(cfg_b, wb, env)
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL
    assert osp.isfile(osp.join(wb, 'epoch_1.pth'))
    assert not osp.exists(osp.join(wb, 'epoch_2.pth'))
    # Resume with the kill hook off (same config otherwise).
    resumed = _train(cfg_a, wb, env, resume=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + \
        resumed.stderr[-3000:]
    assert 'epoch_1.pth' in resumed.stdout + resumed.stderr

    def weights(work_dir):
        from mmhuman_imphmr.engine import safe_load_checkpoint
        return safe_load_checkpoint(osp.join(work_dir, 'epoch_3.pth'))

    a, b = weights(wa), weights(wb)
    assert a['meta']['iter'] == b['meta']['iter'] == 6
    assert set(a['state_dict']) == set(b['state_dict'])
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    # The optimiser moments too (what the next epoch would use).
    for sa, sb in zip(a['optimizer']['state'].values(),
                      b['optimizer']['state'].values()):
        for key in sa:
            assert torch.equal(
                torch.as_tensor(sa[key]), torch.as_tensor(sb[key])), key
    # Training moved the weights (the comparison is not trivially true).
    first = torch.load(osp.join(wb, 'epoch_3.pth'), weights_only=False)
    assert first['meta']['epoch'] == 3
