"""Which sample feeds which of ImpHMR's losses, decided by its label type.

The one place that says it (DESIGN §3, paper sec. 3.4 and 4): every dataset
declares the *type* of its labels (``label_type`` in the dataset config, see
:data:`mmhuman_imphmr.utils.constants.LABEL_TYPES`), the pack transform puts it
into each data sample's metainfo, and :class:`LabelTypeRouting` turns it into
per-sample weights of every loss term. The heads read those weights from the
:class:`ViewPlan`; neither they nor the estimator hold a term table of their
own.

Default routes (``DEFAULT_ROUTES``):

====================  ===============================  =====================
label type            datasets (paper)                 losses
====================  ===============================  =====================
``'gt3d'``            H36M, MPI-INF-3DHP with SMPL     L_reg + L_imag
``'pseudo_smpl'``     EFT COCO / MPII / LSPET           L_reg + L_imag + L_cons
``'2d_only'``         2D keypoints only                 L_reg + L_cons
====================  ===============================  =====================

The paper's "3D datasets" feed ``L_imag`` and its "in-the-wild 2D datasets"
feed ``L_cons``; Table 4 trains on EFT-COCO alone and gains from ``L_imag``
*and* from ``L_cons``, so both run on pseudo-SMPL samples.

Inside a routed loss each term is still masked by the label it needs
(:data:`LOSS_TERMS`): ``keypoints3d`` by ``has_kp3d``, ``pose`` / ``betas`` /
``silhouette`` by ``has_smpl``; 2D keypoints carry their own confidences; the
camera prior and ``L_cons`` need no label. Hence on EFT samples (no 3D joints)
``L_imag``'s 3D-joint term is off -- an assumption: the paper does not say
whether it used joints of the pseudo-GT mesh there; we use only what the data
measures.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmhuman_imphmr.registry import TASK_UTILS
from mmhuman_imphmr.utils.constants import (LABEL_TYPE_2D, LABEL_TYPE_GT3D,
                                            LABEL_TYPE_PSEUDO_SMPL,
                                            LABEL_TYPES)

LOSSES = ('reg', 'imag', 'cons')

# term -> (prediction key, target key, label flag that masks it). The single
# term table: the regression head computes the terms, the routing weighs them.
LOSS_TERMS: Dict[str, Tuple[str, Optional[str], Optional[str]]] = dict(
    keypoints2d=('pred_keypoints2d', 'keypoints2d', None),
    keypoints3d=('pred_joints', 'keypoints3d', 'has_kp3d'),
    pose=('pred_rotmat', 'rotmat', 'has_smpl'),
    betas=('pred_betas', 'betas', 'has_smpl'),
    cam=('pred_cam', None, None),
    silhouette=('silhouette_logits', None, 'has_smpl'),
)

DEFAULT_ROUTES: Dict[str, Tuple[str, ...]] = {
    LABEL_TYPE_GT3D: ('reg', 'imag'),
    LABEL_TYPE_PSEUDO_SMPL: ('reg', 'imag', 'cons'),
    LABEL_TYPE_2D: ('reg', 'cons'),
}
# Terms of each loss. eq. 5: SPIN's five terms; eq. 6: no 2D term (the 2D
# keypoints are of the photo's view), the silhouette term is added when the
# model has a silhouette head; eq. 7: pose and shape agreement.
DEFAULT_TERMS: Dict[str, Tuple[str, ...]] = dict(
    reg=('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam'),
    imag=('keypoints3d', 'pose', 'betas'),
    cons=('pose', 'betas'),
)

# Eq. 7 compares two predictions' pose and shape; no other term exists there.
CONS_TERMS = ('pose', 'betas')


def infer_label_type(has_smpl: float, has_kp3d: float) -> str:
    """Label type of a sample that does not declare one (hand-made samples;
    datasets always declare or infer one for the whole file)."""
    if has_smpl > 0:
        return LABEL_TYPE_GT3D if has_kp3d > 0 else LABEL_TYPE_PSEUDO_SMPL
    return LABEL_TYPE_2D


def sample_angles(batch_size: int,
                  num_views: int,
                  device: torch.device,
                  generator: Optional[torch.Generator] = None) -> Tensor:
    """Azimuths ``phi ~ U[0, 2 pi)`` (paper: ``p_cam = U[0, 2 pi]``).

    Returns:
        Tensor[B, num_views]: Radians, independent per sample and view.
    """
    u = torch.rand(batch_size, num_views, generator=generator)
    return (2 * math.pi * u).to(device)


@dataclass
class ViewPlan:
    """The views a training batch is rendered from and who feeds what.

    Attributes:
        phi (Tensor[B, V]): Views of the main neck pass. Column 0 is the
            canonical view (``L_reg``); column 1, when present, is the
            imagination view of ``L_imag`` and the first view ``phi1`` of
            ``L_cons``.
        weights (dict): ``loss -> term -> Tensor[B]`` per-sample weights of
            the losses that run in this batch (a loss that no sample feeds,
            or that is switched off, is absent).
        cons_index (Tensor[Nc]): Samples rendered a second time, at
            ``cons_phi`` (``phi2`` of ``L_cons``); empty without ``L_cons``.
        cons_phi (Tensor[Nc]): Their azimuths.
    """
    phi: Tensor
    weights: Dict[str, Dict[str, Tensor]] = field(default_factory=dict)
    cons_index: Optional[Tensor] = None
    cons_phi: Optional[Tensor] = None

    def runs(self, loss: str) -> bool:
        return loss in self.weights

    @property
    def imag_phi(self) -> Tensor:
        """``Tensor[B]``: the imagination view (= ``phi1`` of L_cons)."""
        return self.phi[:, 1]


@TASK_UTILS.register_module()
class LabelTypeRouting:
    """Per-sample loss routing by label type, and the training views.

    Args:
        routes (dict, optional): ``label type -> losses`` merged over
            :data:`DEFAULT_ROUTES` (e.g. ``{'pseudo_smpl': ('reg', 'imag')}``
            to keep ``L_cons`` off EFT data).
        terms (dict, optional): ``loss -> terms`` merged over
            :data:`DEFAULT_TERMS`.
        enabled (Sequence[str]): Losses switched on; the estimator passes
            its ``train_cfg.imag`` / ``cons`` switches (the Table 4 rows).
            Defaults to all three.
    """

    def __init__(self,
                 routes: Optional[Mapping[str, Sequence[str]]] = None,
                 terms: Optional[Mapping[str, Sequence[str]]] = None,
                 enabled: Sequence[str] = LOSSES) -> None:
        self.routes = {k: tuple(v) for k, v in DEFAULT_ROUTES.items()}
        self.terms = {k: tuple(v) for k, v in DEFAULT_TERMS.items()}
        for name, given, known, values in (('routes', routes, LABEL_TYPES,
                                            LOSSES), ('terms', terms, LOSSES,
                                                      tuple(LOSS_TERMS))):
            for key, entries in (given or {}).items():
                bad = set(tuple(entries)) - set(values)
                if key not in known or bad:
                    raise KeyError(
                        f'LabelTypeRouting {name}: {key!r}: {sorted(bad)}; '
                        f'expected keys {known} with entries from {values}')
                getattr(self, name)[key] = tuple(entries)
        if 'silhouette' in self.terms['reg']:
            raise KeyError('LabelTypeRouting terms: the silhouette term '
                           'belongs to L_imag (it needs a rendered view)')
        bad = set(self.terms['cons']) - set(CONS_TERMS)
        if bad or not self.terms['cons']:
            raise KeyError(f'LabelTypeRouting terms: cons compares two '
                           f'predictions, its terms are some of {CONS_TERMS}; '
                           f'found {self.terms["cons"]}')
        unknown = set(enabled) - set(LOSSES)
        if unknown:
            raise KeyError(f'LabelTypeRouting enabled: unknown losses '
                           f'{sorted(unknown)}, expected some of {LOSSES}')
        self.enabled = tuple(enabled)

    def describe(self) -> str:
        """One line per label type: the losses and terms its samples feed."""
        lines = []
        for label in LABEL_TYPES:
            losses = [x for x in self.routes[label] if x in self.enabled]
            lines.append(f'{label}: ' +
                         ', '.join(f'L_{x}({"/".join(self.terms[x])})'
                                   for x in losses))
        return '; '.join(lines)

    def sample_mask(self, label_type: Tensor, loss: str) -> Tensor:
        """``Tensor[B]`` float: 1 where the sample's label type routes
        ``loss`` (and the loss is enabled).

        Args:
            label_type (Tensor[B]): Index into ``LABEL_TYPES`` per sample.
            loss (str): ``'reg'``, ``'imag'`` or ``'cons'``.
        """
        if loss not in LOSSES:
            raise ValueError(f'LabelTypeRouting: loss must be one of '
                             f'{LOSSES}, found {loss!r}')
        if loss not in self.enabled:
            return torch.zeros(label_type.shape, device=label_type.device)
        routed = torch.tensor([loss in self.routes[t] for t in LABEL_TYPES],
                              device=label_type.device)
        return routed[label_type].float()

    def term_weights(self,
                     targets: Dict[str, Tensor],
                     loss: str,
                     terms: Optional[Sequence[str]] = None
                     ) -> Dict[str, Tensor]:
        """``term -> Tensor[B]``: the routing mask times the term's label.

        Args:
            targets (dict): ``label_type``, ``has_smpl``, ``has_kp3d``
                (Tensor[B]), as from ``view_supervision.stack_targets``.
            loss (str): ``'reg'``, ``'imag'`` or ``'cons'``.
            terms (Sequence[str], optional): Defaults to the loss's terms.
        """
        terms = self.terms[loss] if terms is None else tuple(terms)
        unknown = set(terms) - set(LOSS_TERMS)
        if unknown:
            raise KeyError(f'LabelTypeRouting: unknown terms '
                           f'{sorted(unknown)}, expected some of '
                           f'{sorted(LOSS_TERMS)}')
        mask = self.sample_mask(targets['label_type'], loss)
        out = {}
        for term in terms:
            flag = LOSS_TERMS[term][2]
            # L_cons compares two predictions: it needs no label at all.
            out[term] = mask if flag is None or loss == 'cons' else \
                mask * targets[flag]
        return out

    def plan(self,
             targets: Dict[str, Tensor],
             view_aware: bool = True,
             silhouette: bool = False,
             generator: Optional[torch.Generator] = None) -> ViewPlan:
        """Views and weights of one training batch.

        Every sample is rendered at ``[0, phi_a]`` in one neck pass when any
        sample feeds ``L_imag`` or ``L_cons`` (``phi_a`` is the imagination
        view and ``phi1``; reusing it for both losses keeps each view
        uniform and independent of the sample's other draws), and the
        ``L_cons`` samples once more at ``phi2``: no view is rendered that no
        loss uses. A neck that is not view aware gets ``L_reg`` only.

        Args:
            targets (dict): As from ``view_supervision.stack_targets``.
            view_aware (bool): Whether the neck's latent depends on ``phi``.
            silhouette (bool): The model has a silhouette head (adds the
                ``silhouette`` term to ``L_imag``).
            generator (torch.Generator, optional): For the azimuths.
        """
        label_type = targets['label_type']
        batch, device = label_type.shape[0], label_type.device
        weights = {'reg': self.term_weights(targets, 'reg')}
        canonical = torch.zeros(batch, 1, device=device)
        if not view_aware:
            return ViewPlan(phi=canonical, weights=weights)
        imag = self.sample_mask(label_type, 'imag')
        cons = self.sample_mask(label_type, 'cons')
        # Keep a loss that is enabled but has no sample in this batch out of
        # the plan, except L_imag with a silhouette head: the head must stay
        # in the graph (DDP) and gets zero weights.
        run_imag = 'imag' in self.enabled and (bool(imag.any()) or silhouette)
        run_cons = 'cons' in self.enabled and bool(cons.any())
        if not (run_imag or run_cons):
            return ViewPlan(phi=canonical, weights=weights)
        phi = torch.cat(
            [canonical, sample_angles(batch, 1, device, generator)], dim=1)
        if run_imag:
            terms = self.terms['imag'] + (('silhouette', ) if silhouette else
                                          ())
            weights['imag'] = self.term_weights(targets, 'imag', terms)
        cons_index = cons_phi = None
        if run_cons:
            weights['cons'] = self.term_weights(targets, 'cons')
            cons_index = torch.nonzero(cons > 0)[:, 0]
            cons_phi = sample_angles(cons_index.numel(), 1, device,
                                     generator)[:, 0]
        return ViewPlan(
            phi=phi, weights=weights, cons_index=cons_index, cons_phi=cons_phi)
