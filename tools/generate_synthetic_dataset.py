"""Render the embedded synthetic dataset (images + HumanData .npz).

Example::

    python tools/generate_synthetic_dataset.py data/synthetic \
        --num-train 2000 --num-val 200 --image-size 128 --seed 0

With ``--wild-fraction 0.3`` about 30% of the training images are labelled
in-the-wild (``synthetic_train_wild.npz``: perturbed SMPL, exact 2D
keypoints, no 3D joints, like EFT fits) instead of studio.
"""
import argparse
import time

from mmhuman_imphmr.datasets.synthetic import (ensure_synthetic_dataset,
                                               generate_synthetic_dataset)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'out_dir',
        nargs='?',
        default='data/synthetic',
        help='output folder (default: data/synthetic)')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--body-model-root',
        default='data/body_models_synthetic',
        help='synthetic body model (generated if missing)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help='rendering processes (default: the number of '
        'CPU cores; the output does not depend on it)')
    parser.add_argument(
        '--wild-fraction',
        type=float,
        default=0.0,
        help='share of the training images labelled '
        'in-the-wild, in [0, 1] (default: 0, no wild file)')
    parser.add_argument(
        '--pseudo-orient-noise',
        type=float,
        default=0.1,
        help='std in radians of the rotation noise composed '
        'onto the global orientation of wild samples '
        '(default: 0.1)')
    parser.add_argument(
        '--pseudo-pose-noise',
        type=float,
        default=0.15,
        help='std in radians of the rotation noise composed '
        'onto each body joint of wild samples (default: '
        '0.15)')
    parser.add_argument(
        '--pseudo-betas-noise',
        type=float,
        default=0.5,
        help='std of the noise added to each beta of wild '
        'samples (default: 0.5)')
    parser.add_argument(
        '--if-missing',
        action='store_true',
        help='do nothing when out_dir already holds a '
        'dataset made with the same arguments')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    fn = ensure_synthetic_dataset if args.if_missing else \
        generate_synthetic_dataset
    start = time.perf_counter()
    files = fn(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        seed=args.seed,
        body_model_root=args.body_model_root,
        batch_size=args.batch_size,
        workers=args.workers,
        wild_fraction=args.wild_fraction,
        pseudo_orient_noise=args.pseudo_orient_noise,
        pseudo_pose_noise=args.pseudo_pose_noise,
        pseudo_betas_noise=args.pseudo_betas_noise)
    elapsed = time.perf_counter() - start
    for split, path in files.items():
        print(f'{split}: {path}')
    if args.if_missing:
        print(f'done in {elapsed:.1f} s')
    else:  # throughput after the imports (about 4 s on a 2-core machine)
        num = args.num_train + args.num_val
        print(f'done in {elapsed:.1f} s ({num / max(elapsed, 1e-9):.1f} '
              f'images/s after start-up)')


if __name__ == '__main__':
    main()
