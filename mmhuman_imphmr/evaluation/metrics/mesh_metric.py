"""MPJPE / PA-MPJPE / PVE of predicted SMPL meshes (3DPW protocol)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

import mmhuman_imphmr.body_models  # noqa: F401  (registers SMPL)
from mmhuman_imphmr.registry import METRICS, MODELS
from mmhuman_imphmr.utils.constants import H36M_PELVIS, H36M_TO_J14
from ..functional import (GENDERS, align_by_joint, gender_name, is_constant,
                          mpjpe, pa_mpjpe, prediction_spread, pve)


def _sample_name(sample: dict, index: int) -> str:
    name = f'#{index} of the batch'
    for key in ('sample_idx', 'img_path'):
        if sample.get(key) is not None:
            name += f', {key}={sample.get(key)!r}'
    return name


def _get(sample: dict, key: str):
    value = sample.get(key)
    if value is None and isinstance(sample.get('gt_instances'), dict):
        value = sample['gt_instances'].get(key)
    return value


def _tensor(value, shape: tuple, key: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.numel() != int(np.prod(shape)):
        raise ValueError(f'MeshMetric: "{key}" must have {shape}, found '
                         f'{tuple(t.shape)}')
    return t.reshape(shape)


@METRICS.register_module()
class MeshMetric(BaseMetric):
    """MPJPE, PA-MPJPE and PVE in millimetres, as PARE / PyMAF evaluate 3DPW.

    Protocol (PARE ``core/trainer.py::validation_step``, PyMAF ``eval.py``;
    the choices that make numbers comparable):

    1. GT mesh: the GT SMPL parameters (``gt_global_orient``,
       ``gt_body_pose``, ``gt_betas``, camera-frame orientation, no
       translation) through the body model of the sample's **gender**
       (``male``/``female``; ``neutral`` if the sample has no gender). The
       SPIN / PARE integer codes 0 = male, 1 = female are understood; any
       other value raises (see :func:`gender_name`), it never falls back to
       neutral.
    2. Predicted mesh: ``pred_vertices`` as given (the **neutral** model's
       output), or, if absent, ``pred_global_orient`` /``pred_body_pose``
       (rotation matrices) / ``pred_betas`` through the neutral model.
    3. Joints: 17 H36M joints ``J_regressor_h36m @ vertices``; the pelvis is
       H36M joint 0 of the 17, taken *before* keeping the 14 LSP joints
       (``constants.H36M_TO_J14``); both joint sets are pelvis-centred.
    4. ``mpjpe``: mean joint distance of the pelvis-centred 14 joints.
       ``pa_mpjpe``: the same after per-sample similarity Procrustes
       (scale, rotation without reflection, translation) of the prediction
       onto the GT. ``pve``: mean distance of the 6890 vertices with **no**
       alignment: both meshes are SMPL outputs without translation, i.e.
       expressed relative to their own model origin (PARE's
       ``compute_error_verts`` on the raw vertices).
    5. Per-sample errors are averaged over the dataset; metres x 1000.

    Diagnostics (a constant model, e.g. a feature field that renders
    nothing, still gets finite errors: those of one mean-ish mesh):
    ``pred_joints_std`` (mm), the spread over the samples of the predicted
    pelvis-centred 14 joints (mean over coordinates of the population std
    over samples), ``pred_betas_std`` the same for ``pred_betas`` (only when
    the samples carry them), and ``pred_image_blind`` 1.0 when both are at
    most ``atol + rtol * mean|value|``: the prediction does not depend on
    the image. It then logs a WARNING; so it does when only β is constant.
    The checks need >= 2 samples.

    Args:
        body_model (dict): SMPL config, e.g. ``dict(type='SMPL',
            model_path='data/body_models')``; built once per gender (its
            ``gender`` key is overridden). Needs ``J_regressor_h36m.npy``.
        rtol (float): Relative tolerance of "the prediction does not vary
            over the samples". Defaults to 1e-6: one prediction repeated
            over a batch varies by ~1e-8 relative (float32 rows), a live
            untrained model by ~1e-4 (see :class:`ESVMetric`).
        atol (float): Absolute tolerance of the same (β units; metres for
            the joints). Defaults to 1e-7.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names; default none, so
            the keys are ``mpjpe``, ``pa_mpjpe``, ``pve`` (best checkpoint:
            ``save_best='pa_mpjpe', rule='less'``) and the diagnostics
            ``pred_joints_std``, ``pred_betas_std``, ``pred_image_blind``.

    Note:
        B samples per batch, V = 6890 vertices, 17 H36M / 14 LSP joints.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 body_model: dict,
                 rtol: float = 1e-6,
                 atol: float = 1e-7,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.body_models = {
            g: MODELS.build({
                **body_model, 'gender': g
            }).eval()
            for g in GENDERS
        }

    @torch.no_grad()
    def _gt_vertices(self, samples: Sequence[dict]) -> torch.Tensor:
        """GT meshes from each sample's gendered model, ``Tensor[B, V, 3]``."""
        out: List[Optional[torch.Tensor]] = [None] * len(samples)
        try:
            genders = [
                gender_name(s.get('gender'), _sample_name(s, i))
                for i, s in enumerate(samples)
            ]
        except ValueError as e:
            raise ValueError(f'MeshMetric: {e}') from None
        for gender in GENDERS:
            idx = [i for i, g in enumerate(genders) if g == gender]
            if not idx:
                continue
            params = {}
            for key, shape in (('gt_global_orient', (3, )),
                               ('gt_body_pose', (69, )), ('gt_betas', (10, ))):
                values = [_get(samples[i], key) for i in idx]
                if any(v is None for v in values):
                    raise KeyError(f'MeshMetric: data sample without "{key}" '
                                   f'(GT SMPL parameters are required)')
                params[key[3:]] = torch.stack(
                    [_tensor(v, shape, key) for v in values])
            verts = self.body_models[gender](**params)['vertices']
            for j, i in enumerate(idx):
                out[i] = verts[j]
        return torch.stack(out)

    @torch.no_grad()
    def _pred_vertices(self, samples: Sequence[dict]) -> torch.Tensor:
        """Predicted meshes, ``Tensor[B, V, 3]``."""
        if all(s.get('pred_vertices') is not None for s in samples):
            return torch.stack([
                torch.as_tensor(s['pred_vertices'], dtype=torch.float32)
                for s in samples
            ])
        keys = ('pred_global_orient', 'pred_body_pose', 'pred_betas')
        missing = [k for k in keys if any(s.get(k) is None for s in samples)]
        if missing:
            raise KeyError(f'MeshMetric: data samples carry neither '
                           f'"pred_vertices" nor {missing}')
        return self.body_models['neutral'](
            global_orient=torch.stack([
                _tensor(s['pred_global_orient'], (1, 3, 3),
                        'pred_global_orient') for s in samples
            ]),
            body_pose=torch.stack([
                _tensor(s['pred_body_pose'], (23, 3, 3), 'pred_body_pose')
                for s in samples
            ]),
            betas=torch.stack([
                _tensor(s['pred_betas'], (10, ), 'pred_betas') for s in samples
            ]),
            pose2rot=False)['vertices']

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Compute the per-sample errors of a batch (stored, not meshes)."""
        if not data_samples:
            return
        pred_v = self._pred_vertices(data_samples).double()
        gt_v = self._gt_vertices(data_samples).double()
        regressor = self.body_models['neutral'].J_regressor_h36m.double()
        pred_j = torch.einsum('jv,bvc->bjc', regressor, pred_v).numpy()
        gt_j = torch.einsum('jv,bvc->bjc', regressor, gt_v).numpy()
        pred14 = align_by_joint(pred_j, pred_j[:, H36M_PELVIS])[:, H36M_TO_J14]
        gt14 = align_by_joint(gt_j, gt_j[:, H36M_PELVIS])[:, H36M_TO_J14]
        errors = dict(
            mpjpe=mpjpe(pred14, gt14),
            pa_mpjpe=pa_mpjpe(pred14, gt14),
            pve=pve(pred_v.numpy(), gt_v.numpy()))
        for i, sample in enumerate(data_samples):
            betas = sample.get('pred_betas')
            self.results.append(
                dict(
                    sample_idx=sample.get('sample_idx'),
                    **{
                        k: float(v[i]) * 1000.0
                        for k, v in errors.items()
                    },
                    # for the image-dependence check (metres; betas if given)
                    pred_joints=pred14[i].reshape(-1).tolist(),
                    pred_betas=None if betas is None else torch.as_tensor(
                        betas, dtype=torch.float64).reshape(-1).tolist()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Dataset means in millimetres, and the image-dependence check."""
        if not results:
            raise RuntimeError('MeshMetric: no sample was evaluated')
        metrics = {
            k: float(np.mean([r[k] for r in results]))
            for k in ('mpjpe', 'pa_mpjpe', 'pve')
        }
        if len(results) < 2:
            return metrics
        joints = np.asarray([r['pred_joints'] for r in results])
        joints_std = prediction_spread(joints)
        blind = is_constant(joints_std, float(np.abs(joints).mean()),
                            self.rtol, self.atol)
        metrics['pred_joints_std'] = joints_std * 1000.0
        betas_blind = False
        if all(r.get('pred_betas') is not None for r in results):
            betas = np.asarray([r['pred_betas'] for r in results])
            metrics['pred_betas_std'] = prediction_spread(betas)
            betas_blind = is_constant(metrics['pred_betas_std'],
                                      float(np.abs(betas).mean()), self.rtol,
                                      self.atol)
            blind = blind and betas_blind
        metrics['pred_image_blind'] = float(blind)
        logger = MMLogger.get_current_instance()
        tol = f'atol {self.atol:g} + rtol {self.rtol:g} x mean|value|'
        if blind:
            logger.warning(
                f'MeshMetric: the predictions do not depend on the image: '
                f'over {len(results)} samples the pelvis-centred joints '
                f'spread {metrics["pred_joints_std"]:.3g} mm' +
                (f' and the betas {metrics["pred_betas_std"]:.3g}'
                 if 'pred_betas_std' in metrics else '') +
                f' (<= {tol}). The model predicts one mesh for every input '
                f'(untrained, collapsed, or a feature field that renders '
                f'nothing): MPJPE / PA-MPJPE / PVE are those of a constant '
                f'prediction (compare tools/analysis/mean_pose_baseline.py),'
                f' not of a model that looks at the image.')
        elif betas_blind:
            logger.warning(
                f'MeshMetric: the predicted betas do not depend on the '
                f'image: their spread over {len(results)} samples is '
                f'{metrics["pred_betas_std"]:.3g} (<= {tol}); only the pose '
                f'varies. Expected of a mean-shape predictor, not of a model '
                f'that estimates shape.')
        return metrics
