"""The embedded synthetic dataset as a registered, self-generating dataset."""
import os.path as osp
from typing import Any, List, Optional, Union

from mmengine.dist import barrier, get_dist_info

from mmhuman_imphmr.registry import DATASETS
from mmhuman_imphmr.utils.constants import (LABEL_TYPE_GT3D,
                                            LABEL_TYPE_PSEUDO_SMPL)
from ..human_image_dataset import HumanImageDataset
from .generator import SPLITS, WILD_FILE, ensure_synthetic_dataset

SUBSETS = ('studio', 'wild')
# The label type of each subset when the config does not declare one.
SUBSET_LABEL_TYPES = dict(studio=LABEL_TYPE_GT3D, wild=LABEL_TYPE_PSEUDO_SMPL)


class _SubsetDefault:
    """Sentinel default of ``label_type``: the subset's label type (None
    already means "infer from the file")."""

    def __repr__(self) -> str:
        return '<label type of the subset>'


SUBSET_DEFAULT = _SubsetDefault()


@DATASETS.register_module()
class SyntheticHumanDataset(HumanImageDataset):
    """:class:`HumanImageDataset` over the embedded synthetic data, which it
    generates on first use.

    Before loading, rank 0 calls :func:`ensure_synthetic_dataset` with
    ``generate_cfg`` (a no-op when ``data_root`` already holds that exact
    dataset) and the other ranks wait at a barrier, so a fresh checkout can
    train the quick start without a separate preparation step.

    Two subsets of the training images: ``'studio'``
    (``synthetic_train.npz``: exact SMPL and 3D joints, like H36M) and
    ``'wild'`` (``synthetic_train_wild.npz``, generated with
    ``generate_cfg=dict(wild_fraction=...)`` > 0: perturbed SMPL, exact 2D
    keypoints, no 3D joints, like EFT fits). Together they are the training
    images, each in exactly one subset; validation is all studio.

    Args:
        data_root (str): Output folder of the generator. Defaults to
            ``'data/synthetic'``.
        split (str): ``'train'`` or ``'val'``.
        generate_cfg (dict, optional): Keyword arguments of
            :func:`ensure_synthetic_dataset` except ``out_dir`` (e.g.
            ``num_train``, ``num_val``, ``image_size``, ``seed``,
            ``body_model_root``, ``wild_fraction``). Defaults to its
            defaults. Datasets over the same ``data_root`` must use the same
            one (a different one regenerates the folder).
        pipeline (list): Transforms.
        label_type (str, optional): The dataset's label type (see
            :class:`HumanImageDataset`; None infers it from the file).
            Defaults to the subset's: ``'gt3d'`` for ``'studio'`` (exact
            SMPL and 3D joints: L_reg + L_imag), ``'pseudo_smpl'`` for
            ``'wild'`` (fitted-like SMPL, 2D keypoints, no 3D joints:
            L_reg + L_imag + L_cons).
        subset (str): ``'studio'`` (default) or ``'wild'``; ``'wild'`` only
            with ``split='train'``.
        **kwargs: Other :class:`HumanImageDataset` arguments (``indices``,
            ``test_mode``, ...). ``dataset_name`` defaults to
            ``'synthetic_<split>'``, ``'synthetic_train_wild'`` for wild.

    Raises:
        ValueError: a bad ``split`` / ``subset`` or ``subset='wild'``
            without ``split='train'``.
        FileNotFoundError: ``subset='wild'`` but the folder has no wild
            file (``generate_cfg`` without ``wild_fraction > 0``).
    """

    def __init__(self,
                 data_root: str = 'data/synthetic',
                 split: str = 'train',
                 generate_cfg: Optional[dict] = None,
                 pipeline: List[Union[dict, Any]] = [],
                 label_type: Optional[str] = SUBSET_DEFAULT,
                 subset: str = 'studio',
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'SyntheticHumanDataset: split must be one of '
                             f'{SPLITS}, found {split!r}')
        if subset not in SUBSETS:
            raise ValueError(f'SyntheticHumanDataset: subset must be one of '
                             f'{SUBSETS}, found {subset!r}')
        if subset == 'wild' and split != 'train':
            raise ValueError(f"SyntheticHumanDataset: subset='wild' exists "
                             f"for split='train' only (validation images "
                             f"are all studio), found split={split!r}")
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise TypeError(f'SyntheticHumanDataset sets {key} itself '
                                f'(from data_root, split and subset)')
        self.split, self.subset = split, subset
        self.generate_cfg = dict(generate_cfg or {})
        rank, world_size = get_dist_info()
        if rank == 0:
            ensure_synthetic_dataset(out_dir=data_root, **self.generate_cfg)
        if world_size > 1:
            barrier()
        if subset == 'wild':
            ann_file = osp.join(data_root, WILD_FILE)
            if not osp.exists(ann_file):
                raise FileNotFoundError(
                    f"SyntheticHumanDataset: subset='wild' needs {ann_file}, "
                    f"which does not exist: set generate_cfg "
                    f"wild_fraction > 0 (e.g. generate_cfg=dict("
                    f"wild_fraction=0.5)) to generate it")
        else:
            ann_file = osp.join(data_root, f'synthetic_{split}.npz')
        if label_type is SUBSET_DEFAULT:
            label_type = SUBSET_LABEL_TYPES[subset]
        kwargs.setdefault('dataset_name',
                          osp.splitext(osp.basename(ann_file))[0])
        super().__init__(
            ann_file=ann_file,
            data_prefix=dict(img_path=data_root),
            pipeline=pipeline,
            label_type=label_type,
            data_root='',
            **kwargs)
