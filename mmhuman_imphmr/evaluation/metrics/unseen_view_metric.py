"""Accuracy of the predictions at unseen viewing directions (ImpHMR eq. 6)."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

import mmhuman_imphmr.body_models  # noqa: F401  (registers SMPL)
from mmhuman_imphmr.registry import METRICS, MODELS
from mmhuman_imphmr.utils.constants import H36M_PELVIS, H36M_TO_J14
from mmhuman_imphmr.utils.geometry import axis_angle_to_rotmat
from ..functional import (GENDERS, align_by_joint, gender_name, mask_iou,
                          mpjpe, rotation_angle_deg, view_target_joints,
                          view_target_orient)
from .mesh_metric import _sample_name  # one naming of samples in errors

_VIEW_KEYS = ('pred_view_angles', 'pred_view_rotmat', 'pred_view_betas')
_GT_KEYS = (('gt_global_orient', (3, )), ('gt_body_pose', (69, )), ('gt_betas',
                                                                    (10, )))


def _tensor(sample: dict,
            key: str,
            shape: tuple,
            name: str,
            dtype=torch.float32) -> torch.Tensor:
    """``sample[key]`` as a tensor of exactly ``shape``, else ValueError."""
    value = sample.get(key)
    if value is None:
        raise ValueError(f'UnseenViewMetric: data sample ({name}) has no '
                         f'"{key}", expected shape {tuple(shape)}')
    if hasattr(value, 'detach'):
        value = value.detach().cpu()
    t = torch.as_tensor(np.asarray(value)).to(dtype)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f'UnseenViewMetric: "{key}" of data sample ({name}) '
                         f'must have shape {tuple(shape)}, found '
                         f'{tuple(t.shape)}')
    return t


def _has_gt_smpl(sample: dict) -> bool:
    """The three GT SMPL fields are there and ``has_smpl`` (if given) is 1."""
    if any(sample.get(k) is None for k, _ in _GT_KEYS):
        return False
    flag = sample.get('has_smpl')
    return flag is None or float(
        np.asarray(
            flag.detach().cpu() if hasattr(flag, 'detach') else flag)) > 0


def angle_key(angle: float) -> str:
    """``90.0 -> '90'``, ``22.5 -> '22.5'`` (the suffix of the keys)."""
    return f'{float(angle):g}'


@METRICS.register_module()
class UnseenViewMetric(BaseMetric):
    """Joint, orientation and silhouette errors at unseen views ``phi``.

    The target of view ``phi`` is the GT "rotated by ``-phi``" (paper eq. 6,
    the target of ``L_imag``): the joints turn about the pelvis by
    ``R_y(-phi)``, the global orientation becomes ``R_y(-phi) R_root``, pose
    and betas unchanged (``utils.geometry``'s convention, through
    :func:`view_target_joints` / :func:`view_target_orient`). The estimator
    writes the predictions of the views ``model.test_cfg.nv_angles``
    (degrees) for the samples with ``sample_idx < nv_max_samples``:
    ``pred_view_angles`` Tensor[K], ``pred_view_rotmat``
    Tensor[K, 24, 3, 3], ``pred_view_betas`` Tensor[K, 10] and, with a
    silhouette head, ``pred_view_silhouette`` / ``gt_view_silhouette``
    (bool Tensor[K, H, W]) and ``gt_view_silhouette_valid`` Tensor[K].

    Keys (``<deg>`` is each angle, ``f'{angle:g}'``, e.g. ``90``):

    * ``nv_mpjpe_<deg>`` (mm): the predicted mesh at ``phi`` (neutral body
      model of ``pred_view_rotmat`` / ``pred_view_betas``) -> 17 H36M joints
      -> pelvis-centred 14 LSP joints (:class:`MeshMetric`'s protocol),
      against the GT mesh's (gendered body model) pelvis-centred 14 joints
      rotated by ``R_y(-phi)``. No Procrustes (it would remove exactly the
      rotation under test). ``nv_mpjpe``: mean over the angles.
    * ``orient_err_<deg>`` (degrees): geodesic angle between the predicted
      global orientation at ``phi`` and ``R_y(-phi) R_root``;
      ``orient_err``: mean over the angles. ``orient_err_0``: the canonical
      prediction ``pred_global_orient`` against ``R_root`` (a reference,
      not in the mean; only when the samples carry ``pred_global_orient``).
    * ``nv_iou_<deg>``, ``nv_iou``: IoU of the predicted and GT silhouettes
      of the view, over the samples whose ``gt_view_silhouette_valid`` is 1
      (the GT camera could be fitted). **IoU of two empty masks is 1.**
      Only when the samples carry silhouettes.

    Per-sample values are averaged over the samples (each angle over the
    same samples). Samples without any view field (``sample_idx`` beyond
    ``nv_max_samples``) are not evaluated; samples without GT SMPL
    (``has_smpl`` 0 or GT parameters missing) are skipped with one WARNING
    giving their number. The angles must be the same for every sample and
    lie in ``(0, 360)``: ``phi = 0`` is the seen view (``orient_err_0``,
    and :class:`MeshMetric`).

    Args:
        body_model (dict): SMPL config, e.g. ``dict(type='SMPL',
            model_path='data/body_models')``; built once per gender (its
            ``gender`` key is overridden). Needs ``J_regressor_h36m.npy``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names (default none).

    Raises:
        RuntimeError: No evaluated sample carries the view fields: set
            ``model.test_cfg.nv_angles``.
        ValueError: A view field of the wrong shape (names the key, the
            expected and the found shape), a sample carrying only some of the
            view fields, angles that differ between samples or are outside
            ``(0, 360)``.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 body_model: dict,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.body_models = {
            g: MODELS.build({
                **body_model, 'gender': g
            }).eval()
            for g in GENDERS
        }

    # ------------------------------------------------------------------

    @torch.no_grad()
    def _joints14(self, vertices: torch.Tensor) -> np.ndarray:
        """Pelvis-centred 14 LSP joints ``[N, 14, 3]`` of ``[N, V, 3]``."""
        regressor = self.body_models['neutral'].J_regressor_h36m.double()
        joints = torch.einsum('jv,bvc->bjc', regressor,
                              vertices.double()).numpy()
        return align_by_joint(joints, joints[:, H36M_PELVIS])[:, H36M_TO_J14]

    @torch.no_grad()
    def _gt(self, samples: Sequence[dict], names: Sequence[str]):
        """GT pelvis-centred joints ``[N, 14, 3]`` (gendered models) and
        root rotations ``[N, 3, 3]``."""
        try:
            genders = [
                gender_name(s.get('gender'), n)
                for s, n in zip(samples, names)
            ]
        except ValueError as e:
            raise ValueError(f'UnseenViewMetric: {e}') from None
        params = {
            key:
            torch.stack(
                [_tensor(s, key, shape, n) for s, n in zip(samples, names)])
            for key, shape in _GT_KEYS
        }
        verts: List[Optional[torch.Tensor]] = [None] * len(samples)
        for gender in GENDERS:
            idx = [i for i, g in enumerate(genders) if g == gender]
            if not idx:
                continue
            out = self.body_models[gender](**{
                k[3:]: v[idx]
                for k, v in params.items()
            })['vertices']
            for j, i in enumerate(idx):
                verts[i] = out[j]
        root = axis_angle_to_rotmat(params['gt_global_orient'].double())
        return self._joints14(torch.stack(verts)), root.numpy()

    def _views(self, sample: dict, name: str) -> dict:
        """The view fields of one sample, shapes checked."""
        value = sample.get('pred_view_angles')
        angles = np.asarray(
            value.detach().cpu() if hasattr(value, 'detach') else value,
            np.float64)
        if angles.ndim != 1 or angles.size == 0:
            raise ValueError(f'UnseenViewMetric: "pred_view_angles" of data '
                             f'sample ({name}) must have shape (K,) with '
                             f'K >= 1, found {angles.shape}')
        if np.any(angles <= 0) or np.any(angles >= 360):
            raise ValueError(f'UnseenViewMetric: "pred_view_angles" of data '
                             f'sample ({name}) are {angles.tolist()}; '
                             f'expected degrees in (0, 360)')
        k = angles.size
        views = dict(
            angles=angles,
            rotmat=_tensor(sample, 'pred_view_rotmat', (k, 24, 3, 3), name),
            betas=_tensor(sample, 'pred_view_betas', (k, 10), name))
        if sample.get('pred_view_silhouette') is not None and \
                sample.get('gt_view_silhouette') is not None:
            pred = sample['pred_view_silhouette']
            hw = tuple(pred.shape[-2:])
            views['silh_pred'] = _tensor(sample, 'pred_view_silhouette',
                                         (k, ) + hw, name, torch.bool)
            views['silh_gt'] = _tensor(sample, 'gt_view_silhouette',
                                       (k, ) + hw, name, torch.bool)
            views['silh_valid'] = _tensor(sample, 'gt_view_silhouette_valid',
                                          (k, ), name)
        return views

    # ------------------------------------------------------------------

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Per-sample errors of a batch (one result per sample, also for the
        samples not evaluated, so that cross-rank collection stays exact)."""
        entries: List[Optional[dict]] = []
        todo = []  # (position in entries, sample, name, views)
        for i, sample in enumerate(data_samples):
            name = _sample_name(sample, i)
            present = [k for k in _VIEW_KEYS if sample.get(k) is not None]
            if not present:
                entries.append(dict(status='no_views'))
                continue
            if len(present) < len(_VIEW_KEYS):
                missing = sorted(set(_VIEW_KEYS) - set(present))
                raise ValueError(
                    f'UnseenViewMetric: data sample ({name}) carries '
                    f'{present} but not {missing}; the estimator writes all '
                    f'of {list(_VIEW_KEYS)} (model.test_cfg.nv_angles)')
            views = self._views(sample, name)
            if not _has_gt_smpl(sample):
                entries.append(dict(status='no_smpl'))
                continue
            entries.append(None)
            todo.append((len(entries) - 1, sample, name, views))
        if todo:
            self._evaluate(todo, entries)
        self.results.extend(entries)

    @torch.no_grad()
    def _evaluate(self, todo: list, entries: list) -> None:
        samples = [t[1] for t in todo]
        names = [t[2] for t in todo]
        views = [t[3] for t in todo]
        gt14, gt_root = self._gt(samples, names)  # (N, 14, 3), (N, 3, 3)
        # All views of all samples through the neutral model at once.
        rotmat = torch.cat([v['rotmat'] for v in views])  # (sum K, 24, 3, 3)
        out = self.body_models['neutral'](
            global_orient=rotmat[:, :1],
            body_pose=rotmat[:, 1:],
            betas=torch.cat([v['betas'] for v in views]),
            pose2rot=False)
        pred14 = self._joints14(out['vertices'])
        start = 0
        for n, (pos, sample, name, v) in enumerate(todo):
            k = v['angles'].size
            pred_j = pred14[start:start + k]  # (K, 14, 3)
            pred_root = v['rotmat'][:, 0].double().numpy()  # (K, 3, 3)
            start += k
            target_j = view_target_joints(gt14[n:n + 1], v['angles'])[0]
            target_root = view_target_orient(gt_root[n:n + 1], v['angles'])[0]
            result = dict(
                status='ok',
                angles=v['angles'].tolist(),
                nv_mpjpe=(mpjpe(pred_j, target_j) * 1000.0).tolist(),
                orient_err=rotation_angle_deg(pred_root, target_root).tolist(),
                orient_err_0=math.nan,
                nv_iou=None)
            canonical = sample.get('pred_global_orient')
            if canonical is not None:
                canonical = np.asarray(
                    canonical.detach().cpu()
                    if hasattr(canonical, 'detach') else canonical, np.float64)
                if canonical.size != 9:
                    raise ValueError(
                        f'UnseenViewMetric: "pred_global_orient" of data '
                        f'sample ({name}) must have shape (3, 3) or '
                        f'(1, 3, 3), found {canonical.shape}')
                result['orient_err_0'] = float(
                    rotation_angle_deg(canonical.reshape(3, 3), gt_root[n]))
            if 'silh_pred' in v:
                iou = mask_iou(v['silh_pred'], v['silh_gt'])
                valid = v['silh_valid'].numpy() > 0.5
                result['nv_iou'] = np.where(valid, iou, np.nan).tolist()
            entries[pos] = result

    # ------------------------------------------------------------------

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Means over the evaluated samples; each key as documented."""
        logger = MMLogger.get_current_instance()
        skipped = sum(r['status'] == 'no_smpl' for r in results)
        done = [r for r in results if r['status'] == 'ok']
        if not done and not skipped:
            raise RuntimeError(
                'UnseenViewMetric: no data sample carried the view '
                f'predictions {list(_VIEW_KEYS)}. Set model.test_cfg.'
                'nv_angles (azimuths in degrees) and optionally model.'
                'test_cfg.nv_max_samples (samples with sample_idx below it '
                'are evaluated at those views), e.g. --cfg-options '
                '"model.test_cfg.nv_angles=(90,180,270)" '
                'model.test_cfg.nv_max_samples=100')
        if skipped:
            logger.warning(
                f'UnseenViewMetric: {skipped} sample(s) with view '
                f'predictions have no GT SMPL (has_smpl 0 or GT parameters '
                f'missing) and were skipped; {len(done)} evaluated.')
        if not done:
            raise RuntimeError(
                f'UnseenViewMetric: none of the {skipped} sample(s) with '
                f'view predictions has GT SMPL: nothing to evaluate')
        angles = done[0]['angles']
        for r in done:
            if r['angles'] != angles:
                raise ValueError(
                    f'UnseenViewMetric: the samples were predicted at '
                    f'different views, {angles} and {r["angles"]} (degrees); '
                    f'one model.test_cfg.nv_angles for the whole evaluation')
        names = [angle_key(a) for a in angles]
        if len(set(names)) != len(names):
            raise ValueError(f'UnseenViewMetric: angles {angles} give '
                             f'duplicate keys {names}')
        metrics: Dict[str, float] = {}
        for key in ('nv_mpjpe', 'orient_err'):
            per_view = np.asarray([r[key] for r in done]).mean(axis=0)
            metrics[key] = float(per_view.mean())
            metrics.update({
                f'{key}_{n}': float(x)
                for n, x in zip(names, per_view)
            })
        canonical = [
            r['orient_err_0'] for r in done
            if not math.isnan(r['orient_err_0'])
        ]
        if canonical:
            metrics['orient_err_0'] = float(np.mean(canonical))
        with_silh = [r['nv_iou'] for r in done if r['nv_iou'] is not None]
        if with_silh:
            iou = np.asarray(with_silh, np.float64)  # (N, K), NaN: invalid
            valid = ~np.isnan(iou)
            if not valid.any():
                logger.warning(
                    f'UnseenViewMetric: {len(with_silh)} sample(s) carry '
                    f'silhouettes but none has a usable GT camera '
                    f'(gt_view_silhouette_valid 0): no nv_iou')
            else:
                per_view = np.nansum(
                    iou, axis=0) / np.maximum(valid.sum(axis=0), 1)
                per_view[valid.sum(axis=0) == 0] = np.nan
                metrics['nv_iou'] = float(np.nanmean(per_view))
                metrics.update({
                    f'nv_iou_{n}': float(x)
                    for n, x in zip(names, per_view)
                })
        return metrics
