"""A sampler mixing the datasets of a ``ConcatDataset`` with fixed ratios."""
import math
from typing import Iterator, Optional, Sequence, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed

from mmhuman_imphmr.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class MixDatasetSampler:
    """Draw each index from dataset d with probability ``partition[d]``.

    SPIN / PARE train on a fixed mix of datasets regardless of their sizes
    (SPIN ``datasets/mixed_dataset.py``; mmhuman3d ``MixedDataset``): for each
    drawn sample a dataset is chosen with the partition's probabilities, then
    a sample uniformly within it. Here the mix is a sampler over mmengine's
    ``ConcatDataset``, so the datasets stay ordinary registered datasets.

    Determinism and distribution: all ranks draw the same global sequence
    from ``seed + epoch`` (``set_epoch`` is called by the runner); rank r
    keeps positions ``r, r + W, r + 2W, ...`` (W ranks), so the ranks see
    disjoint slices of one global draw.

    Args:
        dataset (ConcatDataset | Sized): A dataset with ``datasets`` and
            ``cumulative_sizes`` (mmengine's ``ConcatDataset``); a plain
            dataset counts as one dataset.
        partition (Sequence[float]): One non-negative weight per dataset,
            normalised to sum to 1.
        num_samples (int, optional): Global samples per epoch (all ranks);
            default ``len(dataset)``. Assumption: SPIN used a fixed epoch
            length independent of the mix; mmhuman3d's SPIN config sets
            ``num_data=100000``.
        seed (int, optional): Base seed; default a random seed synchronised
            across ranks.
    """

    def __init__(self,
                 dataset: Sized,
                 partition: Sequence[float],
                 num_samples: Optional[int] = None,
                 seed: Optional[int] = None) -> None:
        self.dataset = dataset
        if hasattr(dataset, 'cumulative_sizes'):
            sizes = np.diff([0] + list(dataset.cumulative_sizes))
            names = [
                getattr(d, 'dataset_name',
                        type(d).__name__) for d in dataset.datasets
            ]
        else:
            sizes = np.array([len(dataset)])
            names = [getattr(dataset, 'dataset_name', type(dataset).__name__)]
        partition = np.asarray(partition, dtype=np.float64).reshape(-1)
        if partition.size != sizes.size:
            raise ValueError(f'MixDatasetSampler: partition has '
                             f'{partition.size} entries but the dataset '
                             f'concatenates {sizes.size} datasets {names}')
        if (partition < 0).any() or partition.sum() <= 0 or \
                not np.isfinite(partition).all():
            raise ValueError(f'MixDatasetSampler: partition '
                             f'{partition.tolist()} must be finite, >= 0 '
                             f'and not all zero')
        if sizes.sum() == 0:
            raise ValueError('MixDatasetSampler: the dataset is empty')
        for p, size, name in zip(partition, sizes, names):
            if p > 0 and size == 0:
                raise ValueError(f'MixDatasetSampler: partition gives weight '
                                 f'{p} to dataset {name!r}, which is empty')
        self.sizes = sizes
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.partition = partition / partition.sum()
        self.num_samples = int(num_samples or sizes.sum())
        if self.num_samples <= 0:
            raise ValueError(f'num_samples must be > 0, found {num_samples}')
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self.per_rank = math.ceil(self.num_samples / self.world_size)

    def global_indices(self, epoch: int) -> np.ndarray:
        """The indices all ranks draw together in ``epoch`` (padded so that
        every rank gets ``len(self)``)."""
        rng = np.random.default_rng([self.seed, epoch])
        total = self.per_rank * self.world_size
        which = rng.choice(self.sizes.size, size=total, p=self.partition)
        local = np.minimum(
            np.floor(rng.random(total) * self.sizes[which]).astype(np.int64),
            self.sizes[which] - 1)
        return self.offsets[which] + local

    def __iter__(self) -> Iterator[int]:
        indices = self.global_indices(self.epoch)
        return iter(indices[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used in the seed (called by the runner)."""
        self.epoch = epoch
