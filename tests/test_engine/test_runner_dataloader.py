"""FaultTolerantRunner.build_dataloader: num_workers=0 with the configs'
persistent_workers=True (e.g. --cfg-options ...num_workers=0 to debug)."""
import pytest
from mmengine.runner import Runner

from mmhuman_imphmr.engine import FaultTolerantRunner
from .toy_runner import ToyDataset


def _cfg(**kwargs):
    return dict(
        dataset=ToyDataset(),
        batch_size=2,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'),
        **kwargs)


def test_mmengine_refuses_the_pair():
    # The reason for the override: torch's DataLoader raises on it.
    with pytest.raises(ValueError, match='persistent_workers'):
        Runner.build_dataloader(_cfg(num_workers=0, persistent_workers=True))


def test_zero_workers_switch_persistent_workers_off():
    cfg = _cfg(num_workers=0, persistent_workers=True)
    loader = FaultTolerantRunner.build_dataloader(cfg)
    assert loader.num_workers == 0 and not loader.persistent_workers
    assert len(list(loader)) == 4  # 8 samples, batches of 2
    assert cfg['persistent_workers'] is True  # the config is not edited


def test_workers_keep_persistent_workers():
    loader = FaultTolerantRunner.build_dataloader(
        _cfg(num_workers=1, persistent_workers=True))
    assert loader.num_workers == 1 and loader.persistent_workers
