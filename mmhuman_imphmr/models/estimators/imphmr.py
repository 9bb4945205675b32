"""ImpHMR: backbone -> view-aware neck -> SMPL regressor (+ silhouette)."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from einops import rearrange
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

from mmhuman_imphmr.engine.nonfinite_loss import NonFiniteLossMixin
from mmhuman_imphmr.registry import MODELS, TASK_UTILS
from mmhuman_imphmr.utils.typing import ConfigType, LossDict, OptConfigType
from .loss_routing import LOSSES
from .view_supervision import stack_targets

# ImageNet statistics in RGB (SPIN / torchvision), images are loaded as BGR.
DEFAULT_DATA_PREPROCESSOR = dict(
    type='ImgDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)

DEFAULT_TRAIN_CFG = dict(
    imag=True,  # L_imag (eq. 6) on the label types the routing sends to it
    cons=True,  # L_cons (eq. 7) likewise
    # Which sample feeds which loss and term, by its dataset's label type
    # (loss_routing.DEFAULT_ROUTES: gt3d -> reg + imag, pseudo_smpl ->
    # reg + imag + cons, 2d_only -> reg + cons).
    routing=dict(type='LabelTypeRouting'),
    # A NaN/Inf loss raises naming the batch's samples ('raise') or skips
    # the update ('skip'); see mmhuman_imphmr.engine.nonfinite_loss.
    nonfinite_loss='raise',
)
DEFAULT_TEST_CFG = dict(
    esv_angles=None,  # e.g. 360: ESV (supp. sec. 6.3) over 360 azimuths
    esv_max_samples=None,  # only samples with metainfo sample_idx < this
    view_chunk=60,  # azimuths per neck pass in predict_views (memory bound)
    # Unseen-view evaluation (UnseenViewMetric): predictions at these
    # azimuths, DEGREES in (0, 360), e.g. (90, 180, 270); None = off.
    nv_angles=None,
    nv_max_samples=None,  # only samples with metainfo sample_idx < this
)


@MODELS.register_module()
class ImpHMR(NonFiniteLossMixin, BaseModel):
    """Implicit 3D human mesh recovery (ImpHMR, CVPR 2023), thin estimator.

    ``loss`` is backbone once -> the routing's :class:`ViewPlan` (views and
    per-sample weights from the samples' label types) -> neck per view ->
    the heads' own ``loss``. The backbone runs once per image; the neck
    renders the plan's views ``[0, phi_a]`` of every sample in one pass and
    ``phi2`` of the ``L_cons`` samples in a second one.

    Args:
        backbone (dict): Config of the image encoder (``ResNet``).
        neck (dict): A neck with the ``BaseViewNeck`` interface
            (``FeatureFieldNeck``, ``PTNNeck``, the baselines' pooling necks).
        head (dict): ``SMPLRegressionHead`` (owns the body model and L_reg,
            L_imag, L_cons).
        silhouette_head (dict, optional): ``SilhouetteHead`` for ``L_imag``'s
            silhouette term; needs a neck that renders a feature map.
        data_preprocessor (dict, optional): Defaults to ImageNet
            normalisation with BGR -> RGB.
        train_cfg (dict, optional): Keys of ``DEFAULT_TRAIN_CFG``.
        test_cfg (dict, optional): Keys of ``DEFAULT_TEST_CFG``.
        init_cfg (dict, optional): MMEngine initialisation config.

    Note:
        B: images, V: views per image, A: azimuths asked of
        :meth:`predict_views`, C: latent channels.
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
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
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
        self._check_nv_angles(self.test_cfg['nv_angles'])
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.head = MODELS.build(head)
        self.silhouette_head = (
            MODELS.build(silhouette_head)
            if silhouette_head is not None else None)
        enabled = [
            x for x in LOSSES
            if x == 'reg' or (self.train_cfg[x] and self.view_aware)
        ]
        self.routing = TASK_UTILS.build(
            dict(self.train_cfg['routing'], enabled=enabled))
        self._check_parts()
        print_log(
            f'ImpHMR losses by label type: {self.routing.describe()}',
            logger='current')

    def _check_parts(self) -> None:
        """Refuse, at build time, parts that cannot work together."""
        if self.silhouette_head is None:
            return
        neck = type(self.neck).__name__
        if not getattr(self.neck, 'renders_map', False):
            raise ValueError(
                f'ImpHMR: silhouette_head needs a neck that renders a feature '
                f'map; {neck} renders none. Set silhouette_head=None.')
        if 'imag' not in self.routing.enabled:
            raise ValueError(
                'ImpHMR: silhouette_head is trained by L_imag only, which is '
                'off (train_cfg.imag=False); set silhouette_head=None.')
        for attr in ('focal_length', 'crop_size'):
            a = getattr(self.head, attr, None)
            b = getattr(self.silhouette_head, attr)
            if a is not None and float(a) != float(b):
                raise ValueError(
                    f'ImpHMR: head.{attr}={a} but silhouette_head.{attr}={b}:'
                    ' the silhouette targets must use the regression camera')

    @staticmethod
    def _check_nv_angles(angles) -> None:
        """``test_cfg.nv_angles``: None or distinct degrees in (0, 360)."""
        if angles is None:
            return
        if isinstance(angles, (str, bytes)) or not hasattr(angles, '__len__'):
            raise ValueError(f'ImpHMR test_cfg.nv_angles must be None or a '
                             f'sequence of azimuths in degrees, e.g. (90, '
                             f'180, 270); found {angles!r}')
        values = [float(a) for a in angles]
        if not values or any(not 0 < a < 360 for a in values) or \
                len(set(values)) != len(values):
            raise ValueError(
                f'ImpHMR test_cfg.nv_angles must be distinct degrees in '
                f'(0, 360) (phi = 0 is the seen view, evaluated by the '
                f'canonical prediction); found {list(angles)}')

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

    def _heads(
        self,
        feats: Tensor,
        phi: Tensor,
        decode: bool = True
    ) -> Tuple[Dict[str, Tensor], Optional[Tensor], Optional[Tensor]]:
        """Neck + regression head on every view (inference paths).

        Args:
            feats (Tensor[B, C, h, w]): Backbone map.
            phi (Tensor[B, V]): Azimuths, radians.
            decode (bool): Run the body model (mesh, joints, 2D keypoints).

        Returns:
            tuple: Head outputs ``Tensor[B, V, ...]``, the rendered maps
            ``Tensor[B, V, C, H, W]`` and opacities ``Tensor[B, V, H, W]``
            (``None`` where the neck renders none).
        """
        num_views = phi.shape[1]
        out = self.neck(feats, phi)  # rows b*V + v

        def split(x: Optional[Tensor]) -> Optional[Tensor]:
            return None if x is None else rearrange(
                x, '(b v) ... -> b v ...', v=num_views)

        preds = {
            k: split(v)
            for k, v in self.head(out.latent, decode=decode).items()
        }
        return preds, split(out.feature_map), split(out.opacity)

    def _silhouette(self, fmap: Optional[Tensor]) -> Tensor:
        """Silhouette logits ``Tensor[N, H, W]`` of ``Tensor[N, C, H, W]``."""
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

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None) -> Dict[str, Tensor]:
        """Raw head outputs at the canonical view ``phi = 0``.

        Returns:
            dict: The regression head's outputs (``pred_rotmat`` ...), each
            ``Tensor[B, ...]``, and ``silhouette_logits Tensor[B, H, W]``
            when the model has a silhouette head.
        """
        feats = self.extract_feat(inputs)
        preds, fmap, _ = self._heads(feats, feats.new_zeros(feats.shape[0], 1))
        preds = self._view(preds, 0)
        if self.silhouette_head is not None:
            preds['silhouette_logits'] = self._silhouette(fmap[:, 0])
        return preds

    def loss(self, inputs: Tensor, data_samples: list) -> LossDict:
        """``L_reg + L_imag + L_cons``, routed by the samples' label types."""
        feats = self.extract_feat(inputs)
        targets = stack_targets(data_samples, feats.device)
        plan = self.routing.plan(
            targets,
            view_aware=self.view_aware,
            silhouette=self.silhouette_head is not None)
        # One neck pass: views [0, (phi_a)] of every sample (rows b*V + v),
        # then phi2 of the L_cons samples only (rows B*V + i).
        extra = (plan.cons_index, plan.cons_phi) if plan.runs('cons') else None
        out = self.neck(feats, plan.phi, extra=extra)
        rows = plan.phi.numel()
        latent, cons_latent = out.latent[:rows], None
        if extra is not None:
            cons_latent = out.latent[rows:]
        losses = self.head.loss(latent, targets, plan, cons_latent)
        if self.silhouette_head is not None:
            losses.update(
                self.silhouette_head.loss(out.feature_map[:rows], targets,
                                          plan, self.head.body_model))
        return losses

    def predict(self, inputs: Tensor, data_samples: list) -> list:
        """Predict at ``phi = 0`` and write ``pred_*`` into the samples.

        A neck that volume-renders also gives ``pred_opacity`` Tensor[]
        (mean opacity of the canonical map; ~0 means a dead field).
        With ``test_cfg.esv_angles`` set it also writes
        ``pred_betas_views`` Tensor[A, 10] (betas at ``A`` evenly spaced
        azimuths) for the samples with ``sample_idx < esv_max_samples``.
        With ``test_cfg.nv_angles`` set (degrees) it writes the unseen-view
        predictions of :meth:`_predict_unseen_views` for the samples with
        ``sample_idx < nv_max_samples`` (``UnseenViewMetric``).
        Predictions are detached CPU tensors (the metrics compare them with
        CPU meshes); a sample without ``gender`` metainfo gets
        ``'neutral'`` (the metric picks the GT body model by it).
        """
        feats = self.extract_feat(inputs)
        preds, _, opacity = self._heads(feats,
                                        feats.new_zeros(feats.shape[0], 1))
        preds = self._view(preds, 0)
        if opacity is not None:  # mean rendered opacity (dead-field check)
            preds['opacity'] = opacity[:, 0].mean(dim=(-2, -1))
        # Detached CPU tensors: the metrics compare them with CPU meshes.
        preds = {k: v.detach().cpu() for k, v in preds.items()}
        for i, sample in enumerate(data_samples):
            rotmat = preds['pred_rotmat'][i]
            sample.set_data(
                dict(
                    pred_global_orient=rotmat[0],
                    pred_body_pose=rotmat[1:],
                    pred_betas=preds['pred_betas'][i],
                    pred_cam=preds['pred_cam'][i],
                    pred_vertices=preds['pred_vertices'][i],
                    pred_keypoints3d=preds['pred_joints'][i],
                    pred_keypoints2d=preds['pred_keypoints2d'][i]))
            if 'opacity' in preds:
                sample.pred_opacity = preds['opacity'][i]
            if 'gender' not in sample:
                sample.set_metainfo(dict(gender='neutral'))
        num_angles = self.test_cfg['esv_angles']
        if num_angles:
            idx = self._subset(data_samples, 'esv_max_samples')
            if idx:
                angles = [
                    2 * torch.pi * a / num_angles for a in range(num_angles)
                ]
                betas = self._views_from_feats(
                    feats[idx], angles, keys=('pred_betas', ))
                for j, i in enumerate(idx):
                    data_samples[i].pred_betas_views = \
                        betas['betas'][j].detach().cpu()
        if self.test_cfg['nv_angles']:
            idx = self._subset(data_samples, 'nv_max_samples')
            if idx:
                self._predict_unseen_views(feats, data_samples, idx)
        return data_samples

    @torch.no_grad()
    def _predict_unseen_views(self, feats: Tensor, data_samples: list,
                              idx: List[int]) -> None:
        """Write the ``test_cfg.nv_angles`` views of ``data_samples[idx]``.

        ``pred_view_angles`` Tensor[K] (degrees), ``pred_view_rotmat``
        Tensor[K, 24, 3, 3], ``pred_view_betas`` Tensor[K, 10]; with a
        silhouette head also ``pred_view_silhouette`` (bool Tensor[K, H, W],
        ``sigmoid(logit) > 0.5``) and, for the samples with GT SMPL
        (``has_smpl``), the GT silhouettes of the same views
        ``gt_view_silhouette`` (bool Tensor[K, H, W], the silhouette head's
        own targets) and ``gt_view_silhouette_valid`` Tensor[K] (1: the GT
        camera fit is usable). Reuses the backbone map ``feats``.
        """
        degrees = [float(a) for a in self.test_cfg['nv_angles']]
        num = len(degrees)
        keys = ['pred_rotmat', 'pred_betas']
        if self.silhouette_head is not None:
            keys.append('silhouette_logits')
        views = self._views_from_feats(feats[idx],
                                       [math.radians(a) for a in degrees],
                                       keys)
        views = {k: v.detach().cpu() for k, v in views.items()}
        angles = torch.tensor(degrees, dtype=torch.float32)
        for j, i in enumerate(idx):
            sample = data_samples[i]
            sample.pred_view_angles = angles.clone()
            sample.pred_view_rotmat = views['rotmat'][j]
            sample.pred_view_betas = views['betas'][j]
            if 'silhouette_logits' in views:
                sample.pred_view_silhouette = \
                    views['silhouette_logits'][j].sigmoid() > 0.5
        if self.silhouette_head is None:
            return
        targets = stack_targets([data_samples[i] for i in idx], feats.device)
        with_smpl = torch.nonzero(targets['has_smpl'] > 0)[:, 0]
        if with_smpl.numel() == 0:
            return
        # Rows n*K + k: sample with_smpl[n] at view k.
        gt = {
            k: targets[k][with_smpl].repeat_interleave(num, dim=0)
            for k in ('rotmat', 'betas', 'keypoints2d')
        }
        phi = torch.deg2rad(angles.to(feats.device)).repeat(with_smpl.numel())
        silh, ok = self.silhouette_head.make_targets(self.head.body_model, gt,
                                                     phi)
        silh = rearrange(
            silh.detach().cpu() > 0.5, '(n k) h w -> n k h w', k=num)
        ok = rearrange(ok.detach().cpu(), '(n k) -> n k', k=num)
        for n, j in enumerate(with_smpl.tolist()):
            sample = data_samples[idx[j]]
            sample.gt_view_silhouette = silh[n]
            sample.gt_view_silhouette_valid = ok[n]

    def _subset(self, data_samples: list, key: str) -> List[int]:
        """Samples with metainfo ``sample_idx < test_cfg[key]`` (all when
        it is None)."""
        limit = self.test_cfg[key]
        if limit is None:
            return list(range(len(data_samples)))
        idx = []
        for i, sample in enumerate(data_samples):
            if 'sample_idx' not in sample:
                raise KeyError(f'ImpHMR test_cfg.{key} needs '
                               'metainfo "sample_idx" in every data sample; '
                               f'sample {i} has {sorted(sample.metainfo)}')
            if sample.sample_idx < limit:
                idx.append(i)
        return idx

    def predict_views(self,
                      inputs: Tensor,
                      phis: Sequence[float],
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
        phis = torch.as_tensor(
            list(phis), dtype=feats.dtype, device=feats.device)
        chunk = max(1, int(self.test_cfg['view_chunk']))
        parts: Dict[str, List[Tensor]] = {k: [] for k in keys}
        for start in range(0, phis.numel(), chunk):
            phi = phis[start:start + chunk].expand(feats.shape[0], -1)
            preds, fmap, _ = self._heads(
                feats, phi, decode='pred_vertices' in keys)
            if 'silhouette_logits' in keys:
                logits = self._silhouette(
                    rearrange(fmap, 'b v c h w -> (b v) c h w'))
                preds['silhouette_logits'] = rearrange(
                    logits, '(b v) h w -> b v h w', b=feats.shape[0])
            for k in keys:
                parts[k].append(preds[k])
        return {
            k.replace('pred_', ''): torch.cat(v, dim=1)
            for k, v in parts.items()
        }
