"""A tiny FaultTolerantRunner for engine tests (seconds on CPU)."""
import itertools
import os

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn
from torch.utils.data import Dataset

from mmhuman_imphmr.engine import FaultTolerantRunner, NonFiniteLossMixin

_COUNTER = itertools.count()


class ToyModel(NonFiniteLossMixin, BaseModel):
    """``y = fc(x + noise)``; loss ``mean(y^2)``; NaN inputs give NaN loss."""

    def __init__(self, hidden: int = 1, nonfinite_loss: str = 'raise'):
        super().__init__()
        self.fc = nn.Linear(2, hidden)
        self.train_cfg = dict(nonfinite_loss=nonfinite_loss)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        y = self.fc(x + 0.1 * torch.rand_like(x))
        if mode == 'loss':
            return dict(loss_toy=(y**2).mean())
        return y


class ToyDataset(Dataset):
    """8 samples; ``nan_at`` makes one sample's input NaN."""
    metainfo = dict(dataset_name='toy')

    def __init__(self, nan_at=None):
        self.nan_at = nan_at

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = torch.full((2, ), float(i))
        if i == self.nan_at:
            x[0] = float('nan')
        return dict(
            inputs=x,
            data_samples=BaseDataElement(
                metainfo=dict(
                    sample_idx=i, img_path=f'img_{i}.png',
                    dataset_name='toy')))


def make_runner(work_dir,
                max_epochs=2,
                hidden=1,
                load_from=None,
                resume=False,
                nan_at=None,
                nonfinite_loss='raise',
                max_keep_ckpts=-1,
                custom_hooks=()):
    torch.manual_seed(0)
    return FaultTolerantRunner(
        model=ToyModel(hidden, nonfinite_loss),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=ToyDataset(nan_at),
            batch_size=2,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook',
                interval=1,
                max_keep_ckpts=max_keep_ckpts)),
        custom_hooks=[dict(type='EpochSeedHook'), *custom_hooks],
        load_from=load_from,
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmhuman_imphmr',
        # unique names: several runners are built within one second
        experiment_name=f'toy_{next(_COUNTER)}_{os.getpid()}')
