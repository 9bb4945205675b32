"""The embedded synthetic dataset as a registered, self-generating dataset."""
import os.path as osp
from typing import Any, List, Optional, Union

from mmengine.dist import barrier, get_dist_info

from mmhuman_imphmr.registry import DATASETS
from mmhuman_imphmr.utils.constants import LABEL_TYPE_GT3D
from ..human_image_dataset import HumanImageDataset
from .generator import SPLITS, ensure_synthetic_dataset


@DATASETS.register_module()
class SyntheticHumanDataset(HumanImageDataset):
    """:class:`HumanImageDataset` over the embedded synthetic data, which it
    generates on first use.

    Before loading, rank 0 calls :func:`ensure_synthetic_dataset` with
    ``generate_cfg`` (a no-op when ``data_root`` already holds that exact
    dataset) and the other ranks wait at a barrier, so a fresh checkout can
    train the quick start without a separate preparation step.

    Args:
        data_root (str): Output folder of the generator. Defaults to
            ``'data/synthetic'``.
        split (str): ``'train'`` or ``'val'``.
        generate_cfg (dict, optional): Keyword arguments of
            :func:`ensure_synthetic_dataset` except ``out_dir`` (e.g.
            ``num_train``, ``num_val``, ``image_size``, ``seed``,
            ``body_model_root``). Defaults to its defaults.
        pipeline (list): Transforms.
        label_type (str, optional): The dataset's label type (see
            :class:`HumanImageDataset`). Defaults to ``'gt3d'``: every
            sample has exact SMPL and 3D joints, so it feeds L_reg + L_imag.
        **kwargs: Other :class:`HumanImageDataset` arguments (``indices``,
            ``test_mode``, ...).
    """

    def __init__(self,
                 data_root: str = 'data/synthetic',
                 split: str = 'train',
                 generate_cfg: Optional[dict] = None,
                 pipeline: List[Union[dict, Any]] = [],
                 label_type: Optional[str] = LABEL_TYPE_GT3D,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'SyntheticHumanDataset: split must be one of '
                             f'{SPLITS}, found {split!r}')
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise TypeError(f'SyntheticHumanDataset sets {key} itself '
                                f'(from data_root and split)')
        self.split = split
        self.generate_cfg = dict(generate_cfg or {})
        rank, world_size = get_dist_info()
        if rank == 0:
            ensure_synthetic_dataset(out_dir=data_root, **self.generate_cfg)
        if world_size > 1:
            barrier()
        kwargs.setdefault('dataset_name', f'synthetic_{split}')
        super().__init__(
            ann_file=osp.join(data_root, f'synthetic_{split}.npz'),
            data_prefix=dict(img_path=data_root),
            pipeline=pipeline,
            label_type=label_type,
            data_root='',
            **kwargs)
