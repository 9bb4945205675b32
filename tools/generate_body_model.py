"""Write the embedded synthetic SMPL-format body model (not SMPL).

Example::

    python tools/generate_body_model.py --out data/body_models_synthetic \
        [--seed 0] [--overwrite]
"""
import argparse
import sys
import time

from mmhuman_imphmr.body_models.synthetic import generate_synthetic_body_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--out',
        default='data/body_models_synthetic',
        help='output root (default: '
        'data/body_models_synthetic)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='individual shape offset; same seed, same bytes')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace existing files')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    try:
        paths = generate_synthetic_body_model(
            args.out, seed=args.seed, overwrite=args.overwrite)
    except FileExistsError as err:
        sys.exit(f'error: {err}')
    elapsed = time.perf_counter() - start
    for key, path in paths.items():
        print(f'{key}: {path}')
    print(f'done in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
