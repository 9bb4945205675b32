"""The synthetic benchmark: its configs train every loss on mixed batches, and
its tool writes a complete, resumable summary on a tiny budget."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
BENCH = osp.join(ROOT, 'configs', 'synthetic_benchmark')
TOOL = osp.join(ROOT, 'tools', 'analysis', 'synthetic_benchmark.py')
REG = {
    f'loss_reg_{t}'
    for t in ('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam')
}
IMAG = {
    f'loss_imag_{t}'
    for t in ('keypoints3d', 'pose', 'betas', 'silhouette')
}
CONS = {'loss_cons_pose', 'loss_cons_betas'}


def tiny_config(name: str, out_dir: str, body_model_root: str,
                data_root: str) -> str:
    """A benchmark config on a tiny generated dataset (8 train images, half
    of them in-the-wild, 4 val), batch 2, the test fixture's body model;
    written as a self-contained file so the tool reads it like the real
    ones."""
    cfg = Config.fromfile(osp.join(BENCH, name + '.py'))
    generate = dict(
        num_train=8,
        num_val=4,
        image_size=32,
        seed=0,
        wild_fraction=0.5,
        body_model_root=body_model_root,
        workers=1)
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.update(data_root=data_root, generate_cfg=generate)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.update(data_root=data_root, generate_cfg=generate)
    if cfg.model.test_cfg.get('esv_angles'):
        cfg.model.test_cfg.update(esv_angles=4, esv_max_samples=2)
    cfg.default_hooks.logger.interval = 1
    text = cfg.pretty_text.replace("'data/body_models_synthetic",
                                   repr(body_model_root)[:-1])
    path = osp.join(out_dir, name + '.py')
    with open(path, 'w') as f:
        f.write(text)
    assert 'data/body_models_synthetic' not in open(path).read()
    return path


def test_mixed_synthetic_batch_trains_reg_imag_and_cons(
        tmp_path, body_model_root, init_weights_quietly):
    from mmengine.dataset import pseudo_collate

    from mmhuman_imphmr.registry import DATASETS, MODELS
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    register_all_modules()
    path = tiny_config('reg_imag_cons', str(tmp_path), body_model_root,
                       str(tmp_path / 'data'))
    cfg = Config.fromfile(path)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    studio, wild = dataset.datasets
    assert len(studio) > 0 and len(wild) > 0 and len(dataset) == 8
    # In-the-wild samples: no 3D joints, pseudo-SMPL labels (the generator's
    # own tests check the perturbation against the exact GT).
    sample = wild[0]['data_samples']
    assert sample.metainfo['label_type'] == 'pseudo_smpl'
    assert float(sample.has_kp3d) == 0. and float(sample.has_smpl) == 1.
    assert studio[0]['data_samples'].metainfo['label_type'] == 'gt3d'

    batch = pseudo_collate([studio[0], studio[1], wild[0], wild[1]])
    cfg.model.init_cfg = None
    torch.manual_seed(0)
    model = init_weights_quietly(MODELS.build(cfg.model))
    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == REG | IMAG | CONS
    values = {k: float(v.detach()) for k, v in losses.items()}
    # Every term runs on this batch: 3D joints from the gt3d half, L_cons
    # from the pseudo_smpl half, pose / shape / silhouette from both.
    assert all(v > 0 for v in values.values()), values
    losses['loss_cons_pose'].backward()
    field = model.neck.field.fc_latent.weight.grad
    assert field is not None and field.abs().sum() > 0


# Three child runs (pre-training + 2 configs), then a second call: ~2 min on
# an idle 2-core machine, several times that under load.
@pytest.mark.timeout(1800)
def test_tool_tiny_budget_writes_every_field_and_resumes(
        tmp_path, body_model_root):
    data = str(tmp_path / 'data')
    configs = [
        tiny_config(n, str(tmp_path), body_model_root, data)
        for n in ('pretrain_hmr', 'reg', 'reg_imag_cons')
    ]
    out = str(tmp_path / 'results' / 'bench.json')
    cmd = [
        sys.executable, TOOL, '--configs', configs[1], configs[2],
        '--pretrain-config', configs[0], '--seeds', '0', '--steps', '1',
        '--pretrain-steps', '1', '--work-dir',
        str(tmp_path / 'work'), '--out', out
    ]
    run = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    assert result['steps'] == 1 and result['seeds'] == [0]
    assert result['commit'] and result['device']
    assert result['pretrain']['steps'] == 1
    assert 'pa_mpjpe' in result['pretrain']['metrics']
    assert result['reference']['train_mean_pose']['pa_mpjpe'] > 0
    assert set(result['configs']) == {'reg', 'reg_imag_cons'}
    for name, entry in result['configs'].items():
        assert entry['seeds'] == [0]
        for key in ('pa_mpjpe', 'mpjpe', 'pve', 'nv_mpjpe', 'orient_err',
                    'orient_err_0', 'esv'):
            assert isinstance(entry[key], float), (name, key)
        assert len(entry['per_seed']) == 1
        assert entry['per_seed'][0]['seed'] == 0
    # Each run trained the config file it was given (not the stock config of
    # the same name): the runner's config dump names the test's body model.
    dump = osp.join(
        str(tmp_path), 'work', 'pretrain_1_steps_1', 'reg', 'seed_0', 'reg.py')
    assert body_model_root in open(dump).read()
    # Only the model with a silhouette head has an IoU.
    assert 'nv_iou' in result['configs']['reg_imag_cons']
    assert 'nv_iou' not in result['configs']['reg']
    stem = osp.splitext(out)[0]
    table = open(stem + '.md').read()
    assert '| reg_imag_cons | 1 |' in table and 'train_mean_pose' in table
    assert osp.getsize(stem + '.png') > 1000

    # A second call finds every run finished and trains nothing.
    again = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count('done before, skipped') == 3
    assert ': training' not in again.stdout


def test_tool_refuses_unknown_config():
    run = subprocess.run([sys.executable, TOOL, '--configs', 'nope'],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         timeout=120)
    assert run.returncode != 0
    assert "no config" in run.stderr and 'reg_imag_cons' in run.stderr
