"""ValidateBeforeTrainHook: the untrained model's validation is a logged
reference, never a "best" checkpoint, an early-stopping count or a plateau
step; a NaN ESV (dead model) goes through mmengine's logging."""
import glob
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator

from mmhuman_imphmr.engine import FaultTolerantRunner, safe_load_checkpoint
from mmhuman_imphmr.engine.hooks import ValidateBeforeTrainHook
from mmhuman_imphmr.evaluation import ESVMetric
from .toy_runner import ToyDataset, ToyModel


class ScriptedMetric(BaseMetric):
    """Reports ``scores[k]`` at its k-th evaluation (k = 0: the reference)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = list(scores)
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.extend(0 for _ in data_samples)

    def compute_metrics(self, results):
        score = self.scores[self.calls]
        self.calls += 1
        return dict(score=score)


class DeadESVModel(ToyModel):
    """Predicts what a dead feature field gives: one β for every image and
    every view, rendered opacity 0."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'predict':
            return super().forward(inputs, data_samples, mode)
        betas = self.fc.bias.detach().new_full((10, ), 0.3)  # constant
        for sample in data_samples:
            sample.pred_betas = betas.clone()
            sample.pred_betas_views = betas.repeat(8, 1)
            sample.pred_opacity = torch.tensor(0.0)
        return data_samples


def _runner(tmp_path,
            metric,
            max_epochs=1,
            hook=None,
            extra_hooks=(),
            model=None,
            save_best='score',
            name='ref'):
    torch.manual_seed(0)
    loader = dict(
        dataset=ToyDataset(),
        batch_size=4,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'))
    return FaultTolerantRunner(
        model=model or ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        val_dataloader=loader,
        val_cfg=dict(),
        val_evaluator=Evaluator([metric]),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook',
                interval=1,
                save_best=save_best,
                rule='less')),
        custom_hooks=[hook or ValidateBeforeTrainHook(), *extra_hooks],
        randomness=dict(seed=0),
        default_scope='mmhuman_imphmr',
        experiment_name=f'{name}_{tmp_path.name}')


def _log_text(runner):
    (path, ) = glob.glob(osp.join(runner.log_dir, '*.log'))
    with open(path) as f:
        return f.read()


def _val_scalars(runner):
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if 'score' in r or 'esv' in r]


def test_reference_is_logged_but_never_best(tmp_path):
    # The untrained reference scores 1.0, epoch 1 scores 5.0 (rule 'less'):
    # mmengine alone would keep the reference as the best model. With the
    # reference muted for CheckpointHook, epoch 1 is the first and only
    # candidate, so the best score must be 5.0 and the file epoch 1's.
    metric = ScriptedMetric([1.0, 5.0])
    runner = _runner(tmp_path, metric)
    runner.train()
    assert metric.calls == 2  # the reference did run
    best = sorted(
        osp.basename(p)
        for p in glob.glob(osp.join(str(tmp_path), 'best_*.pth')))
    assert best == ['best_score_epoch_1.pth']
    assert runner.message_hub.get_info('best_score') == 5.0
    assert runner.message_hub.get_info('untrained_reference') == \
        {'score': 1.0}
    # Kept as plain floats: resuming loads the message hub with
    # weights_only=True.
    ckpt = safe_load_checkpoint(osp.join(str(tmp_path), 'epoch_1.pth'))
    assert ckpt['message_hub']['runtime_info']['untrained_reference'] == \
        {'score': 1.0}
    # The hook restored the checkpoint hook's own after_val_epoch.
    ckpt_hook = next(
        h for h in runner.hooks if type(h).__name__ == 'AtomicCheckpointHook')
    assert 'after_val_epoch' not in vars(ckpt_hook)
    # The curve starts at step 0 with the reference value, under the same
    # key as the epochs; the log says it is the untrained reference.
    assert [(r['step'], r['score']) for r in _val_scalars(runner)] == \
        [(0, 1.0), (1, 5.0)]
    log = _log_text(runner)
    assert 'Validating the untrained model (reference point, not a ' \
           'training epoch; not a candidate for best checkpoint' in log
    assert 'Untrained reference (before training, epoch 0): ' \
           'score: 1.0000' in log
    assert 'Epoch(val) [0][2/2]' in log and 'Epoch(val) [1][2/2]' in log


def test_control_without_muting_best_is_the_untrained_model(tmp_path):
    # Same run with nothing muted (the hook's old behaviour): mmengine keeps
    # the untrained model as best_score_epoch_0.pth. This is what the test
    # above guards against, so that test can fail.
    metric = ScriptedMetric([1.0, 5.0])
    runner = _runner(
        tmp_path, metric, hook=ValidateBeforeTrainHook(score_hooks=()))
    runner.train()
    assert osp.isfile(osp.join(str(tmp_path), 'best_score_epoch_0.pth'))
    assert runner.message_hub.get_info('best_score') == 1.0


def test_reference_is_not_an_early_stopping_count(tmp_path):
    # patience=1: one validation without improvement stops training. If the
    # reference (1.0) counted, epoch 1 (5.0) would be "no improvement" and
    # training would stop after 1 of 2 epochs; it must run both.
    metric = ScriptedMetric([1.0, 5.0, 3.0])
    stop = dict(
        type='EarlyStoppingHook',
        monitor='score',
        rule='less',
        patience=1,
        min_delta=0.)
    runner = _runner(tmp_path, metric, max_epochs=2, extra_hooks=[stop])
    runner.train()
    assert runner.epoch == 2 and metric.calls == 3
    assert runner.message_hub.get_info('best_score') == 3.0


def test_dead_model_esv_is_nan_and_logged(tmp_path):
    # A dead model (constant β, opacity 0): ESVMetric reports esv = NaN plus
    # the flags. NaN must go through RuntimeInfoHook, LoggerHook, the JSON
    # scalars and CheckpointHook(save_best='esv') without an error, and
    # never become a best checkpoint (NaN < x is False for every x).
    runner = _runner(
        tmp_path,
        ESVMetric(),
        model=DeadESVModel(),
        save_best='esv',
        name='dead')
    runner.train()
    assert glob.glob(osp.join(str(tmp_path), 'best_*.pth')) == []
    reference = runner.message_hub.get_info('untrained_reference')
    assert math.isnan(reference['esv'])
    assert reference['esv_raw'] == 0.0  # constant views: computed ESV 0
    assert reference['esv_dead_field'] == 1.0
    assert reference['esv_image_blind'] == 1.0
    log = _log_text(runner)
    assert 'esv: nan' in log and 'esv_dead_field: 1.0000' in log
    assert 'ESVMetric: dead feature field' in log
    rows = _val_scalars(runner)
    assert [r['step'] for r in rows] == [0, 1]
    assert all(math.isnan(r['esv']) for r in rows)


def test_no_reference_when_resuming():
    # A resumed run (epoch > 0) already has its reference in the log.
    class FakeRunner:
        epoch = 1
        val_loop = None  # never touched: the hook returns first
        hooks = property(lambda self: pytest.fail('must not run'))

    ValidateBeforeTrainHook().before_train(FakeRunner())
