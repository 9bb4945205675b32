"""Time the built-in mesh rasterizer on ImpHMR-sized workloads.

Workloads: ``silhouette`` of 64 meshes of 6890 vertices / 13776 faces at
128x128 (the silhouette targets of one training batch), ``render`` of the same
64 at 128x128, and ``render`` of 1 mesh at 512x512 (a demo overlay).

The mesh is the synthetic SMPL-format body model in its mean pose when
``mmhuman_imphmr.body_models.synthetic`` is available (``--mesh smpl``), else
a closed UV-sphere of exactly 6890 vertices and 13776 faces (2 poles + 84
rings x 82 segments, SMPL's counts) stretched to a person-sized ellipsoid.
Meshes are placed where SPIN's camera puts a person (weak-perspective scale
0.9, i.e. ``t_z = 2 * 5000 / (224 * 0.9)``), so they cover about 100 pixels
vertically at 128x128, with a random turn about the vertical axis each.

Example::

    python tools/analysis/benchmark_rasterizer.py --repeats 5
    python tools/analysis/benchmark_rasterizer.py --device cuda
"""
import argparse
import math
import os
import tempfile
import time

import torch

from mmhuman_imphmr.renderer import MeshRasterizer
from mmhuman_imphmr.utils.constants import CROP_SIZE, FOCAL_LENGTH
from mmhuman_imphmr.utils.geometry import (rotation_y,
                                           weak_perspective_to_translation)


def uv_ellipsoid(rings: int = 84,
                 segments: int = 82,
                 radii=(0.25, 0.85, 0.15)):
    """Closed UV-sphere mesh (2 + rings*segments vertices) scaled to ``radii``.

    Returns:
        tuple: ``vertices`` Tensor[V, 3], ``faces`` LongTensor[F, 3].
    """
    theta = torch.arange(
        1, rings + 1, dtype=torch.float64) * math.pi / (
            rings + 1)
    lon = torch.arange(segments, dtype=torch.float64) * 2 * math.pi / segments
    t, p = torch.meshgrid(theta, lon, indexing='ij')
    ring_pts = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1)
    verts = torch.cat([
        torch.tensor([[0., 1., 0.]], dtype=torch.float64),
        ring_pts.reshape(-1, 3),
        torch.tensor([[0., -1., 0.]], dtype=torch.float64)
    ])
    verts = verts * torch.tensor(radii, dtype=torch.float64)
    idx = torch.arange(rings * segments).view(rings, segments) + 1
    nxt = idx.roll(-1, dims=1)
    faces = [
        torch.stack([torch.zeros(segments, dtype=torch.long), nxt[0], idx[0]],
                    1)
    ]
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    faces += [
        torch.stack([a, b, c], -1).reshape(-1, 3),
        torch.stack([b, d, c], -1).reshape(-1, 3)
    ]
    south = len(verts) - 1
    faces.append(
        torch.stack([idx[-1], nxt[-1],
                     torch.full((segments, ), south)], 1))
    return verts.float(), torch.cat(faces)


def smpl_mean_pose():
    """Synthetic SMPL-format body model in SPIN's mean pose, or None."""
    try:
        from mmhuman_imphmr.body_models import SMPL
        from mmhuman_imphmr.body_models.smpl_file import load_smpl_mean_params
        from mmhuman_imphmr.body_models.synthetic import \
            ensure_synthetic_body_model
    except ImportError:
        return None
    root = ensure_synthetic_body_model(
        os.path.join(tempfile.gettempdir(), 'imphmr_bench_body_models'))
    smpl = SMPL(model_path=root)
    mean = load_smpl_mean_params(os.path.join(root, 'smpl_mean_params.npz'))
    from mmhuman_imphmr.utils.geometry import rot6d_to_rotmat
    rotmat = rot6d_to_rotmat(
        torch.as_tensor(mean['pose']).float().view(1, 24, 6))
    out = smpl(
        global_orient=rotmat[:, :1],
        body_pose=rotmat[:, 1:],
        betas=torch.as_tensor(mean['shape']).float()[None],
        pose2rot=False)
    return out['vertices'][0], smpl.faces_tensor


def make_batch(batch: int, mesh: str, device: str, seed: int = 0):
    """``batch`` camera-frame meshes turned randomly about the vertical."""
    body = smpl_mean_pose() if mesh in ('auto', 'smpl') else None
    if body is None:
        if mesh == 'smpl':
            raise RuntimeError('--mesh smpl needs mmhuman_imphmr.body_models.'
                               'synthetic, which is not importable')
        verts, faces = uv_ellipsoid()
        name = 'uv-ellipsoid'
    else:
        verts, faces = body
        name = 'synthetic SMPL (mean pose)'
    gen = torch.Generator().manual_seed(seed)
    phi = torch.rand(batch, generator=gen) * 2 * math.pi
    centred = verts - verts.mean(0)
    turned = centred @ rotation_y(phi).transpose(-1, -2)  # (B, V, 3)
    cam = torch.tensor([0.9, 0.0, 0.0]).expand(batch, 3)
    transl = weak_perspective_to_translation(cam, FOCAL_LENGTH, CROP_SIZE)
    vertices = turned + transl.unsqueeze(1)
    return vertices.to(device), faces.to(device), name


def timeit(fn, warmup: int, repeats: int, device: str):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times) / len(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument(
        '--mesh', choices=['auto', 'smpl', 'sphere'], default='auto')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch.set_num_threads (CPU)')
    parser.add_argument('--max-candidates', type=int, default=2**21)
    parser.add_argument('--skip-render', action='store_true')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    vertices, faces, name = make_batch(args.batch, args.mesh, args.device)
    print(f'device={args.device} threads={torch.get_num_threads()} '
          f'mesh={name} V={vertices.shape[1]} F={faces.shape[0]}')
    small = MeshRasterizer(image_size=128, max_candidates=args.max_candidates)
    colors = torch.full_like(vertices, 0.7)
    cases = [(f'silhouette B={args.batch} 128x128',
              lambda: small.silhouette(vertices, faces))]
    if not args.skip_render:
        big = MeshRasterizer(
            image_size=512,
            focal_length=FOCAL_LENGTH * 512 / CROP_SIZE,
            max_candidates=args.max_candidates)
        cases += [(f'render     B={args.batch} 128x128',
                   lambda: small.render(vertices, faces, colors)),
                  ('render     B=1 512x512',
                   lambda: big.render(vertices[:1], faces, colors[:1]))]
    coverage = small.silhouette(vertices, faces).mean().item()
    print(f'mean silhouette coverage at 128x128: {coverage:.3f}')
    for label, fn in cases:
        mean, best = timeit(fn, args.warmup, args.repeats, args.device)
        print(f'{label}: mean {mean:.3f} s, min {best:.3f} s '
              f'({args.repeats} repeats)')


if __name__ == '__main__':
    main()
