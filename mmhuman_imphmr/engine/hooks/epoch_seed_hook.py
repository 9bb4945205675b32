"""Reseed every RNG at each training epoch, so that resuming is exact."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from mmhuman_imphmr.registry import HOOKS


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed torch, numpy and ``random`` from ``(runner.seed, epoch)`` before
    every training epoch.

    MMEngine restores the model, optimiser, schedulers, message hub and the
    sampler's ``(seed, epoch)`` on resume, but not the global RNG states that
    the estimator draws ``phi`` and the neck's density noise from (torch),
    nor numpy's (mmpose's augmentations with ``num_workers=0``). The RNG
    state also advances outside training (validation dataloaders draw a
    worker base seed), so saving it in the checkpoint at the epoch end would
    not reproduce the next epoch either. Deriving each epoch's RNG state from
    the run's seed and the epoch index makes epoch ``e`` the same whether the
    run got there uninterrupted or resumed from the checkpoint of epoch
    ``e - 1``.

    Exactness conditions (checked by ``tests/test_fault_tolerance``): CPU,
    ``randomness=dict(seed=..., deterministic=True)``, checkpoints at epoch
    ends (``CheckpointHook(by_epoch=True)``; a kill mid-epoch resumes from
    the last epoch end), and ``num_workers=0`` or ``persistent_workers=False``
    (persistent workers keep their RNG across epochs, a restarted worker
    does not). The seed of epoch ``e`` differs per rank when
    ``randomness.diff_rank_seed`` is set.

    Args:
        priority (str): Hook priority. Defaults to 'VERY_HIGH' (before the
            sampler seed hook and any hook that draws random numbers).
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        base = runner.seed if runner.seed is not None else 0
        from mmengine.dist import get_rank
        rank = get_rank() if runner._randomness_cfg.get(
            'diff_rank_seed', False) else 0
        # SeedSequence mixes (seed, epoch, rank) into independent streams.
        seed = int(
            np.random.SeedSequence([int(base) % 2**32, runner.epoch,
                                    rank]).generate_state(1)[0])
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # also seeds every CUDA device
