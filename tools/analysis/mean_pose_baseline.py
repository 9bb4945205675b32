"""Image-blind reference errors for a HumanData train / test pair.

A model that ignores its input can still score well below the untrained
model: it only has to predict the average pose of its training data. This
tool measures those image-blind predictors with the same protocol as
:class:`~mmhuman_imphmr.evaluation.MeshMetric` (3DPW protocol of PARE /
PyMAF, see its docstring), so a validation curve can be read against them:

* ``smpl_mean_params``: the pose and shape of ``smpl_mean_params.npz``, the
  regressor's starting estimate (what an untrained model predicts);
* ``train_mean_pose``: the rotation average of the training set's body poses
  (per joint, the chordal L2 mean of the rotation matrices projected back to
  a rotation, the usual mean on SO(3)) with zero betas.

Both use the test sample's GT global orientation, so MPJPE and PVE measure the
body alone; PA-MPJPE does not depend on it. Only the neutral model is used
(the synthetic data is neutral; a gendered test set is evaluated with the
gendered GT as in ``MeshMetric``).

Usage::

    python tools/analysis/mean_pose_baseline.py \
        data/synthetic/synthetic_train.npz data/synthetic/synthetic_val.npz \
        --body-model-root data/body_models_synthetic

Measured on the quick start's data (2000 train / 200 val): PA-MPJPE
``smpl_mean_params`` 122.1 mm (the untrained model, whose randomly initialised
regressor adds small offsets to them, scored 126.2), ``train_mean_pose``
104.7 mm.
"""
import argparse
import json
import os.path as osp
from typing import Dict

import numpy as np
import torch


def rotation_mean(rotmats: torch.Tensor) -> torch.Tensor:
    """Chordal L2 mean of rotations: SVD projection of the matrix mean.

    Args:
        rotmats (Tensor[N, J, 3, 3]): Rotations.

    Returns:
        Tensor[J, 3, 3]: The rotation closest (Frobenius) to their mean.
    """
    u, _, vt = torch.linalg.svd(rotmats.mean(0))
    det = torch.det(u @ vt)
    fix = torch.ones_like(u[..., 0])
    fix[..., -1] = det.sign()  # no reflections
    return u @ torch.diag_embed(fix) @ vt


def _smpl(path: str) -> Dict[str, np.ndarray]:
    from mmhuman_imphmr.datasets.human_data_io import load_human_data
    data = load_human_data(path, keys=['smpl'])
    smpl = data.get('smpl')
    if not isinstance(smpl, dict) or 'body_pose' not in smpl:
        raise KeyError(f'{path}: expected key "smpl" with "global_orient", '
                       f'"body_pose", "betas"; found '
                       f'{sorted(smpl) if isinstance(smpl, dict) else smpl}')
    return smpl


def evaluate(train_npz: str,
             test_npz: str,
             body_model_root: str,
             batch_size: int = 50) -> Dict[str, Dict[str, float]]:
    """MPJPE / PA-MPJPE / PVE (mm) of the image-blind predictors."""
    from mmhuman_imphmr.evaluation import MeshMetric
    from mmhuman_imphmr.utils.geometry import (axis_angle_to_rotmat,
                                               rot6d_to_rotmat)
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    register_all_modules()
    train, test = _smpl(train_npz), _smpl(test_npz)
    body = torch.as_tensor(np.asarray(train['body_pose'], np.float32))
    mean_body = rotation_mean(axis_angle_to_rotmat(body.reshape(-1, 23, 3)))
    params = np.load(osp.join(body_model_root, 'smpl_mean_params.npz'))
    init = rot6d_to_rotmat(
        torch.as_tensor(params['pose'], dtype=torch.float32).reshape(24, 6))
    predictors = dict(
        smpl_mean_params=(init[1:],
                          torch.as_tensor(
                              params['shape'],
                              dtype=torch.float32).reshape(10)),
        train_mean_pose=(mean_body, torch.zeros(10)))

    metric = MeshMetric(
        body_model=dict(type='SMPL', model_path=body_model_root))
    num = len(test['body_pose'])
    results = {}
    for name, (pose, betas) in predictors.items():
        metric.results.clear()
        for start in range(0, num, batch_size):
            samples = []
            for i in range(start, min(start + batch_size, num)):
                orient = torch.as_tensor(
                    np.asarray(test['global_orient'][i], np.float32))
                samples.append(
                    dict(
                        gt_global_orient=orient,
                        gt_body_pose=torch.as_tensor(
                            np.asarray(test['body_pose'][i],
                                       np.float32)).reshape(69),
                        gt_betas=torch.as_tensor(
                            np.asarray(test['betas'][i], np.float32)),
                        pred_global_orient=axis_angle_to_rotmat(orient)[None],
                        pred_body_pose=pose,
                        pred_betas=betas))
            metric.process(None, samples)
        results[name] = metric.compute_metrics(metric.results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('train', help='HumanData .npz of the training set')
    parser.add_argument('test', help='HumanData .npz to evaluate on')
    parser.add_argument(
        '--body-model-root',
        required=True,
        help='folder with the SMPL files, '
        'smpl_mean_params.npz and J_regressor_h36m.npy')
    parser.add_argument('--out', help='write the metrics as JSON')
    args = parser.parse_args()
    results = evaluate(args.train, args.test, args.body_model_root)
    print(f'{"predictor":<18} {"MPJPE":>8} {"PA-MPJPE":>9} {"PVE":>8}')
    for name, m in results.items():
        print(f'{name:<18} {m["mpjpe"]:8.1f} {m["pa_mpjpe"]:9.1f} '
              f'{m["pve"]:8.1f}')
    if args.out:
        from mmhuman_imphmr.engine.atomic_io import atomic_write_text
        atomic_write_text(args.out, json.dumps(results, indent=2))
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
