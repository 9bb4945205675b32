"""Train a model from a config (mmpose 1.x ``tools/train.py`` layout).

Examples::

    python tools/train.py configs/imphmr_r50_mix.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --seed 0
    python tools/train.py CONFIG --auto-scale-lr         # lr for your batch
    python tools/train.py CONFIG --no-validate
    python tools/train.py CONFIG --resume                # latest in work_dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_3.pth
    python tools/train.py CONFIG --resume --cfg-options train_cfg.max_epochs=20
    bash tools/dist_train.sh CONFIG 8                    # 8 GPUs (torchrun)

The flags are in :mod:`mmhuman_imphmr.engine.cli` (shared with
``tools/test.py``); the package is installed (``make install`` or
``pip install -e .``), so nothing here edits ``sys.path``.
"""
import argparse
from typing import Optional, Sequence

from mmengine.config import Config

from mmhuman_imphmr.engine.cli import (build_train_parser, merge_train_args,
                                       parse_args)
from mmhuman_imphmr.engine.launch import build_runner, distributed_teardown


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge command-line arguments into the config."""
    return merge_train_args(cfg, args)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(build_train_parser(), argv)
    from mmhuman_imphmr.utils import register_all_modules
    register_all_modules()
    cfg = merge_args(Config.fromfile(args.config), args)
    with distributed_teardown():
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
