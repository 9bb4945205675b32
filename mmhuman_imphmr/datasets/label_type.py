"""A dataset's label type: which losses its samples feed, and its checks.

ImpHMR routes its losses by the kind of labels a *dataset* has (DESIGN §3,
paper sec. 3.4 / 4 and Table 4), not by per-sample flags:

=================  ===============================  =======================
label type         datasets                         losses
=================  ===============================  =======================
``'gt3d'``         H36M (MoSh SMPL), MPI-INF-3DHP   L_reg + L_imag
                   (SPIN's static fits)
``'pseudo_smpl'``  EFT COCO / MPII / LSPET          L_reg + L_imag + L_cons
``'2d_only'``      2D keypoints only                L_reg + L_cons
=================  ===============================  =======================

Within those losses each term is still masked per sample by its label
(``has_smpl`` for θ/β and the silhouette, ``has_kp3d`` for 3D joints, the
keypoint confidences for 2D). So a file declared ``'gt3d'`` or
``'pseudo_smpl'`` that carries no SMPL at all trains without a word of
complaint and simply loses L_imag's pose / shape (and silhouette) terms and
L_reg's θ/β terms -- mmhuman3d's ``h36m_train.npz`` and
``mpi_inf_3dhp_train.npz`` are such files. :func:`resolve_label_type` says
so loudly when the dataset is built.
"""
import logging
import os.path as osp
import warnings
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from mmhuman_imphmr.utils.constants import (LABEL_TYPE_2D, LABEL_TYPE_GT3D,
                                            LABEL_TYPE_PSEUDO_SMPL,
                                            LABEL_TYPES)

# Files of mmhuman3d / SPIN without SMPL (by stem) -> the file with SMPL that
# replaces them (docs/data_preparation.md, "Label types").
SMPL_REPLACEMENTS = {
    'h36m_train':
    "h36m_mosh_train.npz (mmhuman3d's H36mConverter with "
    "mosh_dir=<MoSh data>; MoSh is not redistributable)",
    'mpi_inf_3dhp_train':
    "spin_mpi_inf_3dhp_train.npz (mmhuman3d's SPIN "
    "files, SPIN's static fits; or "
    "tools/dataset_converters/spin_to_humandata.py on "
    "SPIN's mpi_inf_3dhp_train.npz with fits)",
    'coco_2014_train':
    'eft_coco_all.npz (EFT fits)',
    'mpii_train':
    'eft_mpii.npz (EFT fits)',
    'lspet_train':
    'eft_lspet.npz (EFT fits)',
    'hr-lspet_train':
    'eft_lspet.npz (EFT fits)',
    'lsp_train':
    "spin_lsp_train.npz (SPIN's fits)",
}
_GENERIC = 'a file of this dataset with SMPL (fitted) parameters'


class LabelTypeWarning(UserWarning):
    """A dataset's declared label type contradicts the labels in its file."""


def check_label_type(label_type: Optional[str],
                     ann_file: str) -> Optional[str]:
    """``label_type`` if it is None or one of :data:`LABEL_TYPES`.

    Raises:
        ValueError: naming ``ann_file``, the expected and the found value.
    """
    if label_type is None or (isinstance(label_type, str)
                              and label_type in LABEL_TYPES):
        return label_type
    raise ValueError(f'{ann_file}: label_type must be one of {LABEL_TYPES} '
                     f'(or None to infer it from the file), found '
                     f'{label_type!r}')


def infer_label_type(has_smpl: np.ndarray, has_kp3d: np.ndarray) -> str:
    """``'gt3d'`` if any sample has SMPL and 3D joints, ``'pseudo_smpl'`` if
    any has SMPL, else ``'2d_only'`` (flags: (N,) bool)."""
    has_smpl, has_kp3d = np.asarray(has_smpl), np.asarray(has_kp3d)
    if (has_smpl & has_kp3d).any():
        return LABEL_TYPE_GT3D
    return LABEL_TYPE_PSEUDO_SMPL if has_smpl.any() else LABEL_TYPE_2D


def _loud(message: str) -> None:
    """Python warning and mmengine log line at WARNING."""
    warnings.warn(message, LabelTypeWarning, stacklevel=3)
    print_log(message, logger='current', level=logging.WARNING)


def _replacement(ann_file: str) -> str:
    stem = osp.splitext(osp.basename(ann_file))[0]
    return SMPL_REPLACEMENTS.get(stem, _GENERIC)


def resolve_label_type(declared: Optional[str],
                       ann_file: str,
                       has_smpl: np.ndarray,
                       has_kp3d: np.ndarray,
                       check_kp3d: bool = True) -> str:
    """The dataset's label type, checked against its file's labels.

    Args:
        declared (str, optional): The config's ``label_type``; None infers
            it (:func:`infer_label_type`) and logs one WARNING line.
        ann_file (str): Named in every message.
        has_smpl, has_kp3d (ndarray[N]): Per-sample flags of the dataset.
        check_kp3d (bool): Check that a ``'gt3d'`` dataset has 3D joints.
            Off for test sets (3DPW's GT joints come from its GT mesh).

    Returns:
        str: One of :data:`LABEL_TYPES`.

    Warns:
        LabelTypeWarning: (also logged at WARNING) ``'gt3d'`` or
            ``'pseudo_smpl'`` declared for a file where no sample has SMPL.
            Logged at WARNING only: ``'gt3d'`` without any 3D joints
            (with ``check_kp3d``).
            Logged at INFO: ``'2d_only'`` declared while samples have SMPL.
    """
    check_label_type(declared, ann_file)
    has_smpl = np.asarray(has_smpl, bool)
    has_kp3d = np.asarray(has_kp3d, bool)
    num, num_smpl = has_smpl.size, int(has_smpl.sum())
    num_kp3d = int(has_kp3d.sum())
    counts = (f'{num_smpl} of {num} samples have SMPL, {num_kp3d} have 3D '
              f'joints, {int((has_smpl & has_kp3d).sum())} have both')
    if declared is None:
        inferred = infer_label_type(has_smpl, has_kp3d)
        print_log(
            f'{ann_file}: label_type is not declared; inferred '
            f'{inferred!r} from the file ({counts}). Declare '
            f'label_type={inferred!r} in the dataset config: it '
            f'decides which losses these samples feed.',
            logger='current',
            level=logging.WARNING)
        return inferred
    lost = ("silently removes L_imag's pose and shape terms (and its "
            "silhouette term, whose target is the GT mesh) and L_reg's "
            "theta/beta (pose/shape) terms for its samples")
    if declared in (LABEL_TYPE_GT3D, LABEL_TYPE_PSEUDO_SMPL) and \
            num_smpl == 0:
        left = 'only their 2D keypoints' + (
            ' and 3D joints' if num_kp3d else
            '') + ' are supervised' + (' (and L_cons applies)' if declared
                                       == LABEL_TYPE_PSEUDO_SMPL else '')
        _loud(f'{ann_file}: declared label_type={declared!r} but no sample '
              f'has SMPL parameters ({counts}). Training on this file '
              f'{lost}: {left}. Use {_replacement(ann_file)} instead '
              f'(docs/data_preparation.md, "Label types").')
    elif declared == LABEL_TYPE_GT3D and num_kp3d == 0 and check_kp3d:
        print_log(
            f'{ann_file}: declared label_type={declared!r} but no '
            f'sample has 3D joints ({counts}): the 3D-joint terms of '
            f'L_reg and L_imag get nothing from it. If its SMPL are '
            f'fits to 2D keypoints, declare '
            f'label_type={LABEL_TYPE_PSEUDO_SMPL!r}.',
            logger='current',
            level=logging.WARNING)
    elif declared == LABEL_TYPE_2D and num_smpl > 0:
        print_log(
            f'{ann_file}: declared label_type={declared!r} while '
            f'{counts}: their SMPL is unused for L_imag (2d_only '
            f'samples feed L_reg + L_cons). Declare '
            f'{LABEL_TYPE_PSEUDO_SMPL!r} or {LABEL_TYPE_GT3D!r} to '
            f'imagine views from it.',
            logger='current',
            level=logging.INFO)
    return declared
