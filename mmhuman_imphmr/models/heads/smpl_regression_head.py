"""SPIN's iterative error-feedback SMPL regressor; owns L_reg, L_imag, L_cons.

Architecture (SPIN ``models/hmr.py``, DESIGN §4): the latent is concatenated
with the current estimate ``(pose6d, betas, cam)``, passed through
``fc1 -> dropout -> fc2 -> dropout`` (no activation) and three linear layers
that predict a residual update; three iterations start from the SMPL mean
parameters. Attribute names are SPIN's, so the regressor part of SPIN's
checkpoint maps onto this head by prefixing ``head.`` only
(``tools/convert_spin_checkpoint.py``). The body model is the head's decoder.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from einops import rearrange
from mmengine.model import BaseModule

from mmhuman_imphmr.body_models.smpl_file import load_smpl_mean_params
from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.constants import (CROP_SIZE, FOCAL_LENGTH, NUM_BETAS,
                                            NUM_SMPL_JOINTS)
from mmhuman_imphmr.utils.geometry import (perspective_projection,
                                           rot6d_to_rotmat, rotmat_to_rot6d,
                                           weak_perspective_to_translation)
from mmhuman_imphmr.utils.typing import LossDict, OptConfigType
from ..estimators.loss_routing import LOSS_TERMS as _ROUTED_TERMS
from ..estimators.loss_routing import ViewPlan
from ..estimators.view_supervision import rotate_targets_to_view

NUM_POSE_6D = NUM_SMPL_JOINTS * 6  # 144
# The terms of this head (the silhouette term is the silhouette head's).
LOSS_TERMS = tuple(t for t in _ROUTED_TERMS if t != 'silhouette')
# One registered loss module per term, and L_cons. Weights: paper sec. 6.1
# (SPIN's 5 / 5 / 1 / 0.001 times SPIN's global x60); the camera prior is
# SPIN's 1 x 60 (the paper does not list it); eq. 7 uses lambda_pose and
# lambda_shape.
DEFAULT_LOSSES = dict(
    keypoints2d=dict(
        type='Keypoint2DLoss',
        loss_weight=300.,
        openpose_weight=0.,
        gt_weight=1.),
    keypoints3d=dict(type='Keypoint3DLoss', loss_weight=300.),
    pose=dict(type='PoseLoss', loss_weight=60.),
    betas=dict(
        type='BetasLoss', loss_weight=0.06, max_abs_betas=3., outliers='zero'),
    cam=dict(type='CameraPriorLoss', loss_weight=60.),
    consistency=dict(
        type='ViewConsistencyLoss',
        pose_weight=60.,
        betas_weight=0.06,
        stop_gradient=None),
)


@MODELS.register_module()
class SMPLRegressionHead(BaseModule):
    """Iterative SMPL regressor (SPIN / HMR) decoding through the body model.

    Args:
        in_channels (int): Latent size. Defaults to 2048.
        mean_params (str, optional): SPIN's ``smpl_mean_params.npz``, the
            starting estimate. ``None`` starts from placeholders (identity
            rotations, zero betas, camera ``(1, 0, 0)``) that a checkpoint
            is expected to overwrite: ``init_pose/init_shape/init_cam`` are
            persistent buffers and SPIN's checkpoint carries them.
        n_iter (int): Error-feedback iterations. Defaults to 3.
        hidden_channels (int): Width of fc1/fc2. Defaults to 1024.
        dropout (float): Dropout after fc1 and fc2. Defaults to 0.5.
        body_model (dict, optional): Body model config (``type='SMPL'``).
            Required to decode vertices/joints/keypoints.
        focal_length (float): Pixels, for the 2D projection. Defaults to 5000.
        crop_size (int): Crop side in pixels. Defaults to 224.
        losses (dict, optional): ``term -> loss config`` (registered loss
            modules: ``Keypoint2DLoss``, ``Keypoint3DLoss``, ``PoseLoss``,
            ``BetasLoss``, ``CameraPriorLoss``, and ``consistency``:
            ``ViewConsistencyLoss``), each merged over
            :data:`DEFAULT_LOSSES`; a ``type`` swaps the loss.
        cam_scale_range (tuple, optional): ``(low, high)`` bounds of the
            camera scale ``s`` used for the perspective translation and the
            2D projection; ``pred_cam`` itself is not changed. A numerical
            guard of this project, not in SPIN: trained from scratch, the 2D
            loss can lower itself by a negative ``s`` (the body behind the
            camera projects point-mirrored, a shortcut for a 180-degree
            error) until SPIN's camera prior ``exp(-10 s)^2`` overflows;
            and an ``s`` near ``2f / (res * 1 m)`` puts joints at zero depth
            (measured: both ended CPU runs of the synthetic config). Inside
            the range the projection is SPIN's exactly. Defaults to
            ``(0.05, 20.0)``: a body 45 m ... 2.2 m from a 5000-pixel camera;
            ``None`` disables the guard.
        init_cfg (dict, optional): MMEngine init config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='head.')`` for
            a converted SPIN checkpoint. Defaults to SPIN's init (PyTorch
            default for fc1/fc2, xavier gain 0.01 for the output layers).

    Note:
        N: samples (``B * V`` when views are flattened), C: ``in_channels``.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 mean_params: Optional[str] = None,
                 n_iter: int = 3,
                 hidden_channels: int = 1024,
                 dropout: float = 0.5,
                 body_model: OptConfigType = None,
                 focal_length: float = FOCAL_LENGTH,
                 crop_size: int = CROP_SIZE,
                 losses: Optional[Dict[str, dict]] = None,
                 cam_scale_range: Optional[Tuple[float, float]] = (0.05, 20.0),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if n_iter < 1:
            raise ValueError(f'n_iter must be >= 1, found {n_iter}')
        self.in_channels = in_channels
        self.n_iter = n_iter
        self.focal_length = focal_length
        self.crop_size = crop_size
        if cam_scale_range is not None and not (0 < cam_scale_range[0] <
                                                cam_scale_range[1]):
            raise ValueError(f'cam_scale_range must be (low, high) with '
                             f'0 < low < high, found {cam_scale_range}')
        self.cam_scale_range = cam_scale_range
        unknown = set(losses or {}) - set(DEFAULT_LOSSES)
        if unknown:
            raise KeyError(f'SMPLRegressionHead losses: unknown terms '
                           f'{sorted(unknown)}, expected some of '
                           f'{sorted(DEFAULT_LOSSES)}')
        cfgs = copy.deepcopy(DEFAULT_LOSSES)
        for term, cfg in (losses or {}).items():
            cfg = dict(cfg)
            if 'type' in cfg and cfg['type'] != cfgs[term]['type']:
                cfgs[term] = cfg  # another loss: its own arguments only
            else:
                cfgs[term].update(cfg)
        self.losses = nn.ModuleDict({
            term: MODELS.build(cfg)
            for term, cfg in cfgs.items()
        })

        state = NUM_POSE_6D + NUM_BETAS + 3
        self.fc1 = nn.Linear(in_channels + state, hidden_channels)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_channels, hidden_channels)
        self.drop2 = nn.Dropout(dropout)
        self.decpose = nn.Linear(hidden_channels, NUM_POSE_6D)
        self.decshape = nn.Linear(hidden_channels, NUM_BETAS)
        self.deccam = nn.Linear(hidden_channels, 3)
        self._init_output_layers()

        if mean_params is not None:
            mean = load_smpl_mean_params(mean_params)
            pose = torch.from_numpy(mean['pose'])
            shape = torch.from_numpy(mean['shape'])
            cam = torch.from_numpy(mean['cam'])
        else:
            pose = rotmat_to_rot6d(torch.eye(3).expand(NUM_SMPL_JOINTS, 3, 3))
            shape = torch.zeros(NUM_BETAS)
            cam = torch.tensor([1., 0., 0.])
        # (1, D) as in SPIN, so that its checkpoint loads without reshaping.
        self.register_buffer('init_pose', pose.reshape(1, -1).float())
        self.register_buffer('init_shape', shape.reshape(1, -1).float())
        self.register_buffer('init_cam', cam.reshape(1, -1).float())
        # Its buffers are non-persistent (licensed data): never checkpointed.
        self.body_model = (
            MODELS.build(body_model) if body_model is not None else None)

    def _init_output_layers(self) -> None:
        # SPIN: small xavier init, so the first iterations stay near the mean.
        for layer in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(layer.weight, gain=0.01)

    def forward(self,
                latent: torch.Tensor,
                decode: bool = True) -> Dict[str, torch.Tensor]:
        """Regress SMPL parameters and, optionally, decode the body.

        Args:
            latent (Tensor[N, C]): One feature vector per sample and view.
            decode (bool): Run the body model and the projection. ``False``
                returns the parameters only (ESV, consistency). Defaults to
                True.

        Returns:
            dict: ``pred_pose6d`` Tensor[N, 144], ``pred_rotmat``
            Tensor[N, 24, 3, 3], ``pred_betas`` Tensor[N, 10], ``pred_cam``
            Tensor[N, 3] (``s, tx, ty``); with ``decode``: ``pred_vertices``
            Tensor[N, 6890, 3], ``pred_joints`` Tensor[N, 49, 3],
            ``pred_cam_t`` Tensor[N, 3], ``pred_keypoints2d`` Tensor[N, 49, 2]
            in ``[-1, 1]`` crop coordinates.
        """
        if latent.dim() != 2 or latent.shape[1] != self.in_channels:
            raise ValueError(f'SMPLRegressionHead expects latent [N, '
                             f'{self.in_channels}], found '
                             f'{tuple(latent.shape)}')
        n = latent.shape[0]
        pose = self.init_pose.expand(n, -1)
        shape = self.init_shape.expand(n, -1)
        cam = self.init_cam.expand(n, -1)
        for _ in range(self.n_iter):
            x = torch.cat([latent, pose, shape, cam], dim=1)
            x = self.drop2(self.fc2(self.drop1(self.fc1(x))))
            pose = self.decpose(x) + pose
            shape = self.decshape(x) + shape
            cam = self.deccam(x) + cam
        rotmat = rot6d_to_rotmat(pose.reshape(n, NUM_SMPL_JOINTS, 6))
        out = dict(
            pred_pose6d=pose,
            pred_rotmat=rotmat,
            pred_betas=shape,
            pred_cam=cam)
        if decode:
            out.update(self.decode(rotmat, shape, cam))
        return out

    def decode(self, rotmat: torch.Tensor, betas: torch.Tensor,
               cam: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Mesh, 49 joints and their projection for given parameters.

        Args:
            rotmat (Tensor[N, 24, 3, 3]), betas (Tensor[N, 10]),
            cam (Tensor[N, 3]): SMPL parameters and weak-perspective camera.

        Returns:
            dict: ``pred_vertices``, ``pred_joints``, ``pred_cam_t``,
            ``pred_keypoints2d`` (see :meth:`forward`).
        """
        if self.body_model is None:
            raise RuntimeError('SMPLRegressionHead was built without '
                               'body_model: set body_model=dict(type="SMPL", '
                               'model_path=...) or call forward(decode=False)')
        body = self.body_model(
            global_orient=rotmat[:, :1],
            body_pose=rotmat[:, 1:],
            betas=betas,
            pose2rot=False)
        if self.cam_scale_range is not None:
            # Gradient-free outside the range (see cam_scale_range).
            cam = torch.cat(
                [cam[:, :1].clamp(*self.cam_scale_range), cam[:, 1:]], dim=1)
        cam_t = weak_perspective_to_translation(cam, self.focal_length,
                                                self.crop_size)
        keypoints2d = perspective_projection(
            body['joints'],
            cam_t,
            self.focal_length,
            self.crop_size,
            normalize=True)
        return dict(
            pred_vertices=body['vertices'],
            pred_joints=body['joints'],
            pred_cam_t=cam_t,
            pred_keypoints2d=keypoints2d)

    # ------------------------------------------------------------------
    # Losses

    @property
    def loss_weights(self) -> Dict[str, float]:
        """lambda of each term (for logs and tests)."""
        return {t: float(self.losses[t].loss_weight) for t in LOSS_TERMS}

    def loss(self,
             latent: torch.Tensor,
             targets: Dict[str, torch.Tensor],
             plan: ViewPlan,
             cons_latent: Optional[torch.Tensor] = None) -> LossDict:
        """``L_reg``, ``L_imag`` and ``L_cons`` of a training batch.

        Args:
            latent (Tensor[B*V, C]): Latents of the views ``plan.phi``
                (row ``b*V + v``).
            targets (dict): From ``view_supervision.stack_targets``.
            plan (ViewPlan): Views and per-sample weights of the batch
                (:class:`~mmhuman_imphmr.models.estimators.LabelTypeRouting`).
            cons_latent (Tensor[Nc, C], optional): Latents of
                ``plan.cons_index`` at ``plan.cons_phi``; needed when
                ``L_cons`` runs.

        Returns:
            dict: ``loss_{reg,imag,cons}_{term}``.
        """
        num_views, rows = plan.phi.shape[1], latent.shape[0]
        if plan.runs('cons') and cons_latent is None:
            raise ValueError('SMPLRegressionHead.loss: the plan runs '
                             'L_cons but cons_latent is None')
        # One regressor pass over the views and L_cons's second views (one
        # weight-gradient product per layer instead of two); only the views
        # of L_reg / L_imag are decoded (L_cons compares parameters).
        both = latent if cons_latent is None else torch.cat(
            [latent, cons_latent])
        params = self(both, decode=False)
        main = {k: v[:rows] for k, v in params.items()}
        main.update(
            self.decode(main['pred_rotmat'], main['pred_betas'],
                        main['pred_cam']))
        preds = {
            k: rearrange(v, '(b v) ... -> b v ...', v=num_views)
            for k, v in main.items()
        }  # Tensor[B, V, ...]

        def view(v: int) -> Dict[str, torch.Tensor]:
            return {k: t[:, v] for k, t in preds.items()}

        weights = plan.weights['reg']
        losses = self.loss_by_feat(
            view(0), targets, weights, 'reg', tuple(weights))
        if plan.runs('imag'):
            weights = {
                t: w
                for t, w in plan.weights['imag'].items() if t != 'silhouette'
            }
            losses.update(
                self.loss_by_feat(
                    view(1), rotate_targets_to_view(targets, plan.imag_phi),
                    weights, 'imag', tuple(weights)))
        if plan.runs('cons'):
            idx = plan.cons_index
            weights = plan.weights['cons']
            # The routing gives both terms the same sample mask.
            cons = self.consistency_loss(
                {
                    k: v[idx]
                    for k, v in view(1).items()
                }, {
                    k: v[rows:]
                    for k, v in params.items()
                },
                plan.imag_phi[idx],
                plan.cons_phi,
                sample_weight=next(iter(weights.values()))[idx])
            losses.update({
                k: v
                for k, v in cons.items() if k[len('loss_cons_'):] in weights
            })
        return losses

    def loss_by_feat(self,
                     preds: Dict[str, torch.Tensor],
                     targets: Dict[str, torch.Tensor],
                     sample_weight: Optional[Dict[str, torch.Tensor]] = None,
                     prefix: str = 'reg',
                     terms: Sequence[str] = LOSS_TERMS) -> LossDict:
        """Weighted losses of one view.

        Args:
            preds (dict): Output of :meth:`forward` (decoded for the keypoint
                terms).
            targets (dict): Only the keys the terms need: ``keypoints2d``
                Tensor[N, 49, 3], ``keypoints3d`` Tensor[N, 24, 4],
                ``rotmat`` Tensor[N, 24, 3, 3], ``betas`` Tensor[N, 10].
            sample_weight (dict, optional): ``term -> Tensor[N]``, e.g. from
                the routing. A missing term weighs every sample 1.
            prefix (str): Loss keys are ``loss_{prefix}_{term}``.
            terms (Sequence[str]): Subset of :data:`LOSS_TERMS`.

        Returns:
            dict: ``loss_{prefix}_{term}`` -> lambda * loss. A term whose
            samples all weigh 0 gives 0 with a graph (no NaN).
        """
        unknown = set(terms) - set(LOSS_TERMS)
        if unknown:
            raise KeyError(f'SMPLRegressionHead.loss_by_feat: unknown terms '
                           f'{sorted(unknown)}, expected some of {LOSS_TERMS}')
        sample_weight = sample_weight or {}
        losses = {}
        for term in terms:
            pred_key, target_key, _ = _ROUTED_TERMS[term]
            if pred_key not in preds:
                raise KeyError(f'loss term "{term}" needs preds["{pred_key}"]'
                               f' (decode=True for keypoints); found '
                               f'{sorted(preds)}')
            if target_key is not None and target_key not in targets:
                raise KeyError(f'loss term "{term}" needs targets'
                               f'["{target_key}"]; found {sorted(targets)}')
            args = (preds[pred_key], ) + (
                (targets[target_key], ) if target_key else ())
            losses[f'loss_{prefix}_{term}'] = self.losses[term](
                *args, sample_weight.get(term))
        return losses

    def consistency_loss(self,
                         pred_a: Dict[str, torch.Tensor],
                         pred_b: Dict[str, torch.Tensor],
                         phi_a: torch.Tensor,
                         phi_b: torch.Tensor,
                         sample_weight: Optional[torch.Tensor] = None,
                         prefix: str = 'cons') -> LossDict:
        """Appearance consistency ``L_cons`` (paper eq. 7).

        Args:
            pred_a, pred_b (dict): :meth:`forward` outputs at ``phi_a`` and
                ``phi_b`` (``pred_rotmat``, ``pred_betas`` are used).
            phi_a, phi_b (Tensor[N]): Azimuths in radians.
            sample_weight (Tensor[N], optional): Samples to use (the routed
                ones: pseudo-SMPL and 2D-only label types by default).
            prefix (str): Keys ``loss_{prefix}_pose``, ``loss_{prefix}_betas``.

        Returns:
            dict: lambda_pose * pose term and lambda_shape * betas term.
        """
        loss_pose, loss_betas = self.losses['consistency'](
            pred_a['pred_rotmat'], pred_a['pred_betas'], pred_b['pred_rotmat'],
            pred_b['pred_betas'], phi_a, phi_b, sample_weight)
        return {
            f'loss_{prefix}_pose': loss_pose,
            f'loss_{prefix}_betas': loss_betas
        }
