"""The quick start (``make demo``): everything on a fresh machine, on CPU.

1. generates the embedded synthetic SMPL-format body model
   (``data/body_models_synthetic``) and renders it posed
   (``outputs/quick_start/body_model.png``);
2. trains ``configs/imphmr_r18_synthetic.py`` (ImpHMR, ResNet-18 from
   scratch) on the embedded synthetic dataset, generated on first use in
   ``data/synthetic``; the untrained model is validated first (epoch 0), then
   every epoch; checkpoints and logs go to ``work_dirs/imphmr_r18_synthetic``;
3. prints the validation curve (MPJPE / PA-MPJPE / PVE in mm) against the
   image-blind reference (the training data's mean pose,
   ``tools/analysis/mean_pose_baseline.py``) and plots it
   (``outputs/quick_start/curves.png``);
4. runs the demo with the best checkpoint on a validation image
   (``outputs/quick_start/demo``: mesh ``.obj``, SMPL ``.npz``/``.json``,
   overlay and imagined-views PNGs).

Run again, it resumes an unfinished training and skips a finished one.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/imphmr_r18_synthetic.py'


def run(cmd: list) -> None:
    print('\n$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def read_val_curve(work_dir: str) -> list:
    """Validation rows (epoch, metrics) of the newest run in ``work_dir``."""
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    rows = {}
    for run_dir in runs:  # a resumed run continues the curve of the first
        path = osp.join(work_dir, run_dir, 'vis_data', 'scalars.json')
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'pa_mpjpe' in record:
                    rows[int(record['step'])] = record
    return [rows[k] for k in sorted(rows)]


def finished_epochs(work_dir: str) -> int:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return 0
    name = osp.basename(open(pointer).read().strip())
    if name.startswith('epoch_') and name.endswith('.pth'):
        return int(name[len('epoch_'):-len('.pth')])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/imphmr_r18_synthetic')
    parser.add_argument('--out-dir', default='outputs/quick_start')
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='override the config\'s max_epochs')
    args = parser.parse_args()
    python = sys.executable
    start = time.time()
    os.makedirs(osp.join(ROOT, args.out_dir), exist_ok=True)

    # 1. body model and its picture
    run([
        python, 'tools/render_body_model.py', '--root',
        'data/body_models_synthetic', '--out',
        osp.join(args.out_dir, 'body_model.png')
    ])

    # 2. training (data generated on first use by SyntheticHumanDataset)
    from mmengine.config import Config
    max_epochs = args.epochs or Config.fromfile(osp.join(
        ROOT, CONFIG)).train_cfg.max_epochs
    work_dir = osp.join(ROOT, args.work_dir)
    done = finished_epochs(work_dir)
    train = [python, 'tools/train.py', CONFIG, '--work-dir', args.work_dir]
    if args.epochs:
        train += ['--cfg-options', f'train_cfg.max_epochs={args.epochs}']
    if done >= max_epochs:
        print(f'\n{args.work_dir} already holds {done} trained epochs; '
              f'delete it to train again.')
    else:
        run(train + (['--resume'] if done else []))

    # 3. the curve
    rows = read_val_curve(work_dir)
    print('\nValidation on the synthetic val split (mm):')
    print(f'{"epoch":>5} {"MPJPE":>8} {"PA-MPJPE":>9} {"PVE":>8}')
    for row in rows:
        print(f'{row["step"]:>5} {row["mpjpe"]:8.1f} {row["pa_mpjpe"]:9.1f} '
              f'{row["pve"]:8.1f}')
    if rows and rows[0]['step'] == 0:
        first, best = rows[0]['pa_mpjpe'], min(r['pa_mpjpe'] for r in rows)
        print(f'PA-MPJPE: untrained {first:.1f} -> best {best:.1f} '
              f'({100 * (first - best) / first:.0f}% lower)')
    # the image-blind reference the curve is read against: the training
    # data's mean body pose on the same val split (same protocol)
    reference = osp.join(args.out_dir, 'mean_pose_reference.json')
    run([
        python, 'tools/analysis/mean_pose_baseline.py',
        'data/synthetic/synthetic_train.npz',
        'data/synthetic/synthetic_val.npz', '--body-model-root',
        'data/body_models_synthetic', '--out', reference
    ])
    with open(osp.join(ROOT, reference)) as f:
        data_mean = json.load(f)['train_mean_pose']['pa_mpjpe']
    if rows:
        final, goal = rows[-1]['pa_mpjpe'], 0.95 * data_mean
        verdict = 'below' if final <= goal else 'not below'
        # Two decimals: a run can end within 0.1 mm of the goal, where one
        # decimal printed '99.5 ... is 99.5: not below'.
        print(f'Final PA-MPJPE {final:.2f} mm; the image-blind data-mean '
              f'pose scores {data_mean:.2f}, 5% below it is {goal:.2f}: '
              f'{verdict}.')
    logs = sorted(
        osp.join(work_dir, d, 'vis_data', 'scalars.json')
        for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    run([
        python, 'tools/analysis/plot_curves.py', *logs, '--keys', 'loss',
        'pa_mpjpe', '--out',
        osp.join(args.out_dir, 'curves.png')
    ])

    # 4. demo with the best checkpoint on a validation image
    best = sorted(
        f for f in os.listdir(work_dir)
        if f.startswith('best_pa_mpjpe') and f.endswith('.pth'))
    checkpoint = osp.join(args.work_dir, best[-1]) if best else 'none'
    image = osp.join('data', 'synthetic', 'images', 'val', '000000.jpg')
    run([
        python, 'tools/demo.py', CONFIG, checkpoint, '--input', image,
        '--out-dir',
        osp.join(args.out_dir, 'demo')
    ])
    print(f'\nQuick start finished in {(time.time() - start) / 60:.1f} min; '
          f'outputs in {args.out_dir}/, checkpoints in {args.work_dir}/')


if __name__ == '__main__':
    main()
