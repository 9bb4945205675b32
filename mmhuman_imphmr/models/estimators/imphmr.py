"""ImpHMR: backbone -> view-aware neck -> SMPL regressor (+ silhouette)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from einops import rearrange
from mmengine.model import BaseModel
from torch import Tensor

from mmhuman_imphmr.engine.nonfinite_loss import NonFiniteLossMixin
from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.typing import ConfigType, LossDict, OptConfigType
from .view_supervision import (render_silhouette_targets,
                               rotate_targets_to_view, sample_angles,
                               stack_targets, term_weights)

# ImageNet statistics in RGB (SPIN / torchvision), images are loaded as BGR.
DEFAULT_DATA_PREPROCESSOR = dict(
    type='ImgDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)

DEFAULT_TRAIN_CFG = dict(
    imag=True,  # L_imag (eq. 6) on samples with SMPL labels
    cons=True,  # L_cons (eq. 7) on samples without
    reg_terms=('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam'),
    imag_terms=('keypoints3d', 'pose', 'betas'),
    # Assumption (paper silent): gradients flow through both views of L_cons
    # (None); 'a' / 'b' detach the view phi1 / phi2.
    cons_stop_gradient=None,
    # A NaN/Inf loss raises naming the batch's samples ('raise') or skips
    # the update ('skip'); see mmhuman_imphmr.engine.nonfinite_loss.
    nonfinite_loss='raise',
)
DEFAULT_TEST_CFG = dict(
    esv_angles=None,  # e.g. 360: ESV (supp. sec. 8) over 360 azimuths
    esv_max_samples=None,  # only samples with metainfo sample_idx < this
    view_chunk=60,  # azimuths per neck pass in predict_views (memory bound)
)


@MODELS.register_module()
class ImpHMR(NonFiniteLossMixin, BaseModel):
    """Implicit 3D human mesh recovery (ImpHMR, CVPR 2023), thin estimator.

    The backbone runs once per image; the neck renders ``V`` views per image
    and the heads run on all ``B*V`` views together. In training the views are
    ``[0, phi_a]`` for every sample (one neck pass with ``V = 2``) plus a
    second pass with one view ``phi_b`` for the samples without SMPL labels
    only:

    * ``phi = 0`` feeds ``L_reg`` (all samples);
    * ``phi_a`` is the imagination view of samples with ``has_smpl`` and the
      first consistency view ``phi1`` of the others;
    * ``phi_b`` is ``phi2`` of the samples without ``has_smpl``; labelled
      samples never render it, so no view is rendered that no loss uses.

    With a neck that is not view aware (the plain baseline) only ``L_reg``
    runs. Targets and masks come from
    :mod:`mmhuman_imphmr.models.estimators.view_supervision`.

    Args:
        backbone (dict): Config of the image encoder (``ResNet``).
        neck (dict): ``FeatureFieldNeck``, ``GlobalPoolNeck`` or ``PTNNeck``.
        head (dict): ``SMPLRegressionHead`` (owns the body model and losses).
        silhouette_head (dict, optional): ``SilhouetteHead`` for ``L_imag``'s
            silhouette term; needs a neck that returns a feature map.
        data_preprocessor (dict, optional): Defaults to ImageNet
            normalisation with BGR -> RGB.
        train_cfg (dict, optional): Keys of ``DEFAULT_TRAIN_CFG``.
        test_cfg (dict, optional): Keys of ``DEFAULT_TEST_CFG``.
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: images, V: views per image, A: azimuths asked of
        :meth:`predict_views`, N: rows seen by the heads, C: latent channels.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 head: ConfigType,
                 silhouette_head: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(DEFAULT_DATA_PREPROCESSOR)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.head = MODELS.build(head)
        self.silhouette_head = (MODELS.build(silhouette_head)
                                if silhouette_head is not None else None)
        self.train_cfg = {**DEFAULT_TRAIN_CFG, **(train_cfg or {})}
        self.test_cfg = {**DEFAULT_TEST_CFG, **(test_cfg or {})}
        for name, cfg, known in (('train_cfg', self.train_cfg,
                                  DEFAULT_TRAIN_CFG),
                                 ('test_cfg', self.test_cfg,
                                  DEFAULT_TEST_CFG)):
            unknown = set(cfg) - set(known)
            if unknown:
                raise KeyError(f'ImpHMR {name}: unknown keys {sorted(unknown)}'
                               f', expected some of {sorted(known)}')

    @property
    def view_aware(self) -> bool:
        """Whether the neck renders ``phi``-dependent latents."""
        return bool(getattr(self.neck, 'view_aware', False))

    # ------------------------------------------------------------------
    # Shared pieces

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Last backbone map, ``Tensor[B, C, h, w]``."""
        feats = self.backbone(inputs)
        return feats[-1] if isinstance(feats, (tuple, list)) else feats

    def _heads(self, feats: Tensor, phi: Tensor, decode: bool = True
               ) -> Tuple[Dict[str, Tensor], Optional[Tensor]]:
        """Neck + regression head on every view.

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.
            phi (Tensor[B, V]): Azimuths, radians.
            decode (bool): Run the body model (mesh, joints, 2D keypoints).

        Returns:
            tuple: Head outputs ``Tensor[B, V, ...]`` and the rendered
            feature maps ``Tensor[B, V, C, H, W]`` (``None`` if the neck
            renders none).
        """
        num_views = phi.shape[1]
        out = self.neck(feats, phi)  # latent (B*V, C), row b*V + v
        preds = {
            k: rearrange(v, '(b v) ... -> b v ...', v=num_views)
            for k, v in self.head(out['latent'], decode=decode).items()
        }
        fmap = out.get('feature_map')
        if fmap is not None:
            fmap = rearrange(fmap, '(b v) c h w -> b v c h w', v=num_views)
        return preds, fmap

    def _silhouette(self, fmap: Optional[Tensor]) -> Tensor:
        """Silhouette logits ``Tensor[N, H, W]`` of ``Tensor[N, C, H, W]``."""
        if fmap is None:
            raise ValueError(f'ImpHMR: silhouette_head needs a neck that '
                             f'returns a feature map; '
                             f'{type(self.neck).__name__} returns none')
        return self.silhouette_head(fmap)[:, 0]

    @staticmethod
    def _view(preds: Dict[str, Tensor], v: int) -> Dict[str, Tensor]:
        return {k: t[:, v] for k, t in preds.items()}

    # ------------------------------------------------------------------
    # Modes

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list]:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'ImpHMR.forward: invalid mode "{mode}", expected '
                           '"loss", "predict" or "tensor"')

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """Raw head outputs at the canonical view ``phi = 0``.

        Returns:
            dict: The regression head's outputs (``pred_rotmat`` ...), each
            ``Tensor[B, ...]``, and ``silhouette_logits Tensor[B, H, W]``
            when the model has a silhouette head.
        """
        feats = self.extract_feat(inputs)
        preds, fmap = self._heads(feats, feats.new_zeros(feats.shape[0], 1))
        preds = self._view(preds, 0)
        if self.silhouette_head is not None:
            preds['silhouette_logits'] = self._silhouette(
                None if fmap is None else fmap[:, 0])
        return preds

    def loss(self, inputs: Tensor, data_samples: list) -> LossDict:
        """``L_reg + L_imag + L_cons`` as returned by the heads."""
        cfg = self.train_cfg
        feats = self.extract_feat(inputs)
        batch = feats.shape[0]
        targets = stack_targets(data_samples, feats.device)
        labelled = targets['has_smpl'] > 0
        imag = cfg['imag'] and self.view_aware
        cons = cfg['cons'] and self.view_aware
        cons_idx = (torch.nonzero(~labelled)[:, 0] if cons else
                    labelled.new_zeros(0, dtype=torch.long))

        phi = feats.new_zeros(batch, 1)
        if imag or cons_idx.numel() > 0:
            phi = torch.cat(
                [phi, sample_angles(batch, 1, feats.device).to(phi)], dim=1)
        preds, fmap = self._heads(feats, phi)  # Tensor[B, V, ...]
        terms = tuple(cfg['reg_terms'])
        losses = self.head.loss_by_feat(
            self._view(preds, 0), targets,
            term_weights(targets, terms, 'reg'), prefix='reg', terms=terms)

        if imag:
            losses.update(self._imag_loss(preds, fmap, phi[:, 1], targets))
        if cons_idx.numel() > 0:
            # phi2 is rendered for the unlabelled samples only; phi1 = phi_a.
            phi_b = sample_angles(cons_idx.numel(), 1, feats.device).to(phi)
            preds_b, _ = self._heads(feats[cons_idx], phi_b, decode=False)
            weight = term_weights(targets, ('pose', ), 'cons')['pose']
            losses.update(self.head.consistency_loss(
                self._view({k: v[cons_idx] for k, v in preds.items()}, 1),
                self._view(preds_b, 0), phi[cons_idx, 1], phi_b[:, 0],
                sample_weight=weight[cons_idx], prefix='cons',
                stop_gradient=cfg['cons_stop_gradient']))
        return losses

    def _imag_loss(self, preds: Dict[str, Tensor], fmap: Optional[Tensor],
                   phi: Tensor, targets: Dict[str, Tensor]) -> LossDict:
        """``L_imag`` at the views ``phi`` (Tensor[B]); masked by has_smpl.

        ``preds`` and ``fmap`` hold the views ``[0, phi]`` (``V = 2``); the
        silhouette head and the GT renderer only see labelled samples.
        """
        terms = tuple(self.train_cfg['imag_terms'])
        view_targets = rotate_targets_to_view(targets, phi)
        losses = self.head.loss_by_feat(
            self._view(preds, 1), view_targets,
            term_weights(targets, terms, 'imag'), prefix='imag', terms=terms)
        if self.silhouette_head is None:
            return losses
        weight = term_weights(targets, ('silhouette', ), 'imag')['silhouette']
        idx = torch.nonzero(weight > 0)[:, 0]
        weight = weight[idx]
        if idx.numel() == 0:
            # Keep the silhouette head in the graph (DDP) with zero weight.
            idx, weight = idx.new_zeros(1), phi.new_zeros(1)
        logits = self._silhouette(None if fmap is None else fmap[idx, 1])
        sub = {k: v[idx] for k, v in targets.items()}
        silh = render_silhouette_targets(
            self.head.body_model, sub, phi[idx],
            fallback_cam=preds['pred_cam'][idx, 0],
            image_size=logits.shape[-1],
            focal_length=getattr(self.head, 'focal_length', 5000.),
            crop_size=getattr(self.head, 'crop_size', 224))
        losses.update(self.silhouette_head.loss_by_feat(
            logits, silh, weight, prefix='imag'))
        return losses

    def predict(self, inputs: Tensor, data_samples: list) -> list:
        """Predict at ``phi = 0`` and write ``pred_*`` into the samples.

        With ``test_cfg.esv_angles`` set it also writes
        ``pred_betas_views`` Tensor[A, 10] (betas at ``A`` evenly spaced
        azimuths) for the samples with ``sample_idx < esv_max_samples``.
        Predictions are detached CPU tensors (the metrics compare them with
        CPU meshes); a sample without ``gender`` metainfo gets
        ``'neutral'`` (the metric picks the GT body model by it).
        """
        feats = self.extract_feat(inputs)
        preds, _ = self._heads(feats, feats.new_zeros(feats.shape[0], 1))
        preds = self._view(preds, 0)
        # Detached CPU tensors: the metrics compare them with CPU meshes.
        preds = {k: v.detach().cpu() for k, v in preds.items()}
        for i, sample in enumerate(data_samples):
            rotmat = preds['pred_rotmat'][i]
            sample.set_data(dict(
                pred_global_orient=rotmat[0], pred_body_pose=rotmat[1:],
                pred_betas=preds['pred_betas'][i],
                pred_cam=preds['pred_cam'][i],
                pred_vertices=preds['pred_vertices'][i],
                pred_keypoints3d=preds['pred_joints'][i],
                pred_keypoints2d=preds['pred_keypoints2d'][i]))
            if 'gender' not in sample:
                sample.set_metainfo(dict(gender='neutral'))
        num_angles = self.test_cfg['esv_angles']
        if num_angles:
            idx = self._esv_subset(data_samples)
            if idx:
                angles = [2 * torch.pi * a / num_angles
                          for a in range(num_angles)]
                betas = self._views_from_feats(feats[idx], angles,
                                               keys=('pred_betas', ))
                for j, i in enumerate(idx):
                    data_samples[i].pred_betas_views = \
                        betas['betas'][j].detach().cpu()
        return data_samples

    def _esv_subset(self, data_samples: list) -> List[int]:
        limit = self.test_cfg['esv_max_samples']
        if limit is None:
            return list(range(len(data_samples)))
        idx = []
        for i, sample in enumerate(data_samples):
            if 'sample_idx' not in sample:
                raise KeyError('ImpHMR test_cfg.esv_max_samples needs '
                               'metainfo "sample_idx" in every data sample; '
                               f'sample {i} has {sorted(sample.metainfo)}')
            if sample.sample_idx < limit:
                idx.append(i)
        return idx

    def predict_views(self, inputs: Tensor, phis: Sequence[float],
                      return_vertices: bool = False) -> Dict[str, Tensor]:
        """Predictions of the same images from several azimuths.

        Args:
            inputs (Tensor[B, 3, H, W]): Normalised images (after the data
                preprocessor).
            phis (Sequence[float]): ``A`` azimuths in radians.
            return_vertices (bool): Also return the meshes (memory: A x 6890
                x 3 floats per image). Defaults to False.

        Returns:
            dict: ``betas`` Tensor[B, A, 10], ``rotmat`` Tensor[B, A, 24, 3,
            3], ``cam`` Tensor[B, A, 3], optionally ``vertices``
            Tensor[B, A, 6890, 3] and ``silhouette_logits`` Tensor[B, A, H, W]
            when the model has a silhouette head.
        """
        keys = ['pred_betas', 'pred_rotmat', 'pred_cam']
        if return_vertices:
            keys.append('pred_vertices')
        if self.silhouette_head is not None:
            keys.append('silhouette_logits')
        return self._views_from_feats(self.extract_feat(inputs), phis, keys)

    def _views_from_feats(self, feats: Tensor, phis: Sequence[float],
                          keys: Sequence[str]) -> Dict[str, Tensor]:
        """Neck + heads for ``A`` azimuths, in chunks of ``view_chunk``."""
        phis = torch.as_tensor(list(phis), dtype=feats.dtype,
                               device=feats.device)
        chunk = max(1, int(self.test_cfg['view_chunk']))
        parts: Dict[str, List[Tensor]] = {k: [] for k in keys}
        for start in range(0, phis.numel(), chunk):
            phi = phis[start:start + chunk].expand(feats.shape[0], -1)
            preds, fmap = self._heads(feats, phi,
                                      decode='pred_vertices' in keys)
            if 'silhouette_logits' in keys:
                logits = self._silhouette(
                    None if fmap is None else rearrange(
                        fmap, 'b v c h w -> (b v) c h w'))
                preds['silhouette_logits'] = rearrange(
                    logits, '(b v) h w -> b v h w', b=feats.shape[0])
            for k in keys:
                parts[k].append(preds[k])
        return {
            k.replace('pred_', ''): torch.cat(v, dim=1)
            for k, v in parts.items()
        }
