"""MPJPE / PA-MPJPE / PVE of predicted SMPL meshes (3DPW protocol)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

import mmhuman_imphmr.body_models  # noqa: F401  (registers SMPL)
from mmhuman_imphmr.registry import METRICS, MODELS
from mmhuman_imphmr.utils.constants import H36M_PELVIS, H36M_TO_J14
from ..functional import align_by_joint, mpjpe, pa_mpjpe, pve

GENDERS = ('neutral', 'male', 'female')


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
       (``male``/``female``; ``neutral`` if the sample has no gender).
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

    Args:
        body_model (dict): SMPL config, e.g. ``dict(type='SMPL',
            model_path='data/body_models')``; built once per gender (its
            ``gender`` key is overridden). Needs ``J_regressor_h36m.npy``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names; default none, so
            the keys are ``mpjpe``, ``pa_mpjpe``, ``pve`` (best checkpoint:
            ``save_best='pa_mpjpe', rule='less'``).

    Note:
        B samples per batch, V = 6890 vertices, 17 H36M / 14 LSP joints.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 body_model: dict,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.body_models = {
            g: MODELS.build({**body_model, 'gender': g}).eval()
            for g in GENDERS
        }

    @torch.no_grad()
    def _gt_vertices(self, samples: Sequence[dict]) -> torch.Tensor:
        """GT meshes from each sample's gendered model, ``Tensor[B, V, 3]``."""
        out: List[Optional[torch.Tensor]] = [None] * len(samples)
        for gender in GENDERS:
            idx = [i for i, s in enumerate(samples)
                   if str(s.get('gender') or 'neutral').lower() == gender]
            if not idx:
                continue
            params = {}
            for key, shape in (('gt_global_orient', (3, )),
                               ('gt_body_pose', (69, )),
                               ('gt_betas', (10, ))):
                values = [_get(samples[i], key) for i in idx]
                if any(v is None for v in values):
                    raise KeyError(f'MeshMetric: data sample without "{key}" '
                                   f'(GT SMPL parameters are required)')
                params[key[3:]] = torch.stack(
                    [_tensor(v, shape, key) for v in values])
            verts = self.body_models[gender](**params)['vertices']
            for j, i in enumerate(idx):
                out[i] = verts[j]
        unknown = {str(s.get('gender')) for s, v in zip(samples, out)
                   if v is None}
        if unknown:
            raise ValueError(f'MeshMetric: unknown gender(s) {unknown}; '
                             f'expected one of {GENDERS}')
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
                        'pred_global_orient')
                for s in samples]),
            body_pose=torch.stack([
                _tensor(s['pred_body_pose'], (23, 3, 3), 'pred_body_pose')
                for s in samples]),
            betas=torch.stack([
                _tensor(s['pred_betas'], (10, ), 'pred_betas')
                for s in samples]),
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
        errors = dict(mpjpe=mpjpe(pred14, gt14),
                      pa_mpjpe=pa_mpjpe(pred14, gt14),
                      pve=pve(pred_v.numpy(), gt_v.numpy()))
        for i, sample in enumerate(data_samples):
            self.results.append(
                dict(sample_idx=sample.get('sample_idx'),
                     **{k: float(v[i]) * 1000.0 for k, v in errors.items()}))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Dataset means in millimetres."""
        if not results:
            raise RuntimeError('MeshMetric: no sample was evaluated')
        return {k: float(np.mean([r[k] for r in results]))
                for k in ('mpjpe', 'pa_mpjpe', 'pve')}
