"""Imagined views side by side: what trained models predict from other
azimuths, next to the exact GT of those views (paper Fig. 7, with GT).

For each of ``--num`` val images of the first model's config, one block of
rows: the GT mesh turned by ``-phi`` (the view-phi target of eq. 6, drawn with
the canonical predicted camera), then, per model, its mesh predicted at each
``phi`` (with the camera it predicts for that view) and, for models with a
silhouette head, that head's output. Example (the synthetic benchmark)::

    C=configs/synthetic_benchmark
    python tools/analysis/imagined_views.py \\
        full=$C/reg_imag_cons.py:work_dirs/.../iter_600.pth \\
        reg=$C/reg.py:work_dirs/.../iter_600.pth \\
        --out docs/images/synthetic_benchmark_views.png
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('models', nargs='+', metavar='NAME=CONFIG:CHECKPOINT')
    p.add_argument('--num', type=int, default=3, help='val images')
    p.add_argument('--first', type=int, default=0, help='first val index')
    p.add_argument(
        '--phis', nargs='+', type=float, default=[0., 90., 180., 270.])
    p.add_argument('--view-size', type=int, default=128)
    p.add_argument('--out', required=True, help='PNG to write')
    return p.parse_args(argv)


def _split(spec: str):
    if '=' not in spec or ':' not in spec.split('=', 1)[1]:
        raise SystemExit(f'imagined_views: expected NAME=CONFIG:CHECKPOINT, '
                         f'found {spec!r}')
    name, rest = spec.split('=', 1)
    config, checkpoint = rest.rsplit(':', 1)
    for path in (config, checkpoint):
        if not osp.isfile(path):
            raise SystemExit(f'imagined_views: {path!r} ({name}) not found')
    return name, config, checkpoint


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    panel = panel.copy()
    cv2.putText(panel, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                (0, 0, 0), 1, cv2.LINE_AA)
    return panel


@torch.no_grad()
def main(argv=None) -> None:
    args = parse_args(argv)
    from mmengine.dataset import pseudo_collate

    from mmhuman_imphmr.apis.inference import init_model
    from mmhuman_imphmr.registry import DATASETS
    from mmhuman_imphmr.utils.constants import GT_LEFT_HIP, GT_RIGHT_HIP
    from mmhuman_imphmr.utils.geometry import rotate_joints_to_view
    from mmhuman_imphmr.visualization import MeshVisualizer
    models = []
    for spec in args.models:
        name, config, checkpoint = _split(spec)
        models.append((name, init_model(config, checkpoint)))
    first = models[0][1]
    dataset = DATASETS.build(first.cfg.test_dataloader.dataset)
    if args.first + args.num > len(dataset):
        raise SystemExit(f'imagined_views: val set has {len(dataset)} '
                         f'images, asked for {args.first}..'
                         f'{args.first + args.num - 1}')
    body = first.head.body_model
    vis = MeshVisualizer(
        name='imagined_views',
        faces=body.faces_tensor,
        lbs_weights=body.smpl.lbs_weights,
        view_size=args.view_size)
    phis = [float(p) for p in args.phis]
    radians = [np.deg2rad(p) for p in phis]
    size = args.view_size
    blocks = []
    for index in range(args.first, args.first + args.num):
        batch = pseudo_collate([dataset[index]])
        crop = cv2.cvtColor(
            np.ascontiguousarray(batch['inputs'][0].permute(1, 2, 0).numpy(),
                                 np.uint8), cv2.COLOR_BGR2RGB)
        crop_p = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        sample = batch['data_samples'][0]
        rows = []
        for r, (name, model) in enumerate(models):
            data = model.data_preprocessor(batch, training=False)
            views = model.predict_views(
                data['inputs'], radians, return_vertices=True)
            if r == 0:  # GT of each view, with the canonical camera
                gt = body(
                    global_orient=torch.as_tensor(
                        sample.gt_global_orient, dtype=torch.float32)[None],
                    body_pose=torch.as_tensor(
                        sample.gt_body_pose, dtype=torch.float32)[None],
                    betas=torch.as_tensor(
                        sample.gt_betas, dtype=torch.float32)[None])
                verts = gt['vertices'][0]
                joints = gt['joints'][0]
                pelvis = 0.5 * (joints[GT_RIGHT_HIP] + joints[GT_LEFT_HIP])
                panels = [_label(crop_p, 'input')]
                for phi, rad in zip(phis, radians):
                    turned = rotate_joints_to_view(verts, rad, pelvis)
                    blank = np.full((size, size, 3), 255, np.uint8)
                    panels.append(
                        _label(
                            vis.draw_mesh_on_crop(
                                blank, turned, views['cam'][0, 0], alpha=1.0),
                            f'GT {phi:g}'))
                rows.append(np.concatenate(panels, 1))
            panels = [_label(np.full((size, size, 3), 255, np.uint8), name)]
            for a, phi in enumerate(phis):
                blank = np.full((size, size, 3), 255, np.uint8)
                panels.append(
                    _label(
                        vis.draw_mesh_on_crop(
                            blank,
                            views['vertices'][0, a],
                            views['cam'][0, a],
                            alpha=1.0), f'{name} {phi:g}'))
            rows.append(np.concatenate(panels, 1))
            if 'silhouette_logits' in views:
                panels = [
                    _label(
                        np.full((size, size, 3), 255, np.uint8),
                        f'{name} silh.')
                ]
                for a in range(len(phis)):
                    prob = torch.sigmoid(views['silhouette_logits'][0, a])
                    gray = cv2.resize((prob.numpy() * 255).astype(np.uint8),
                                      (size, size))
                    panels.append(np.repeat(gray[..., None], 3, 2))
                rows.append(np.concatenate(panels, 1))
        blocks.append(np.concatenate(rows, 0))
        blocks.append(np.full((4, blocks[-1].shape[1], 3), 80, np.uint8))
    image = np.concatenate(blocks[:-1], 0)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if not cv2.imwrite(args.out, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f'imagined_views: cannot write {args.out}')
    print(f'wrote {args.out} ({image.shape[1]} x {image.shape[0]})')


if __name__ == '__main__':
    main()
