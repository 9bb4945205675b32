"""Draw a few validation predictions per epoch (mmpose's PoseVisualizationHook
pattern): crop + GT keypoints, predicted mesh overlay, predicted side view."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmhuman_imphmr.registry import HOOKS
from mmhuman_imphmr.visualization import MeshVisualizer


@HOOKS.register_module()
class MeshVisualizationHook(Hook):
    """Send prediction overlays of the first validation samples to the
    visualizer's backends (local PNGs, TensorBoard when installed).

    If the runner's visualizer is a :class:`MeshVisualizer` it is used;
    otherwise the hook builds one in ``<log_dir>`` with
    :func:`default_vis_backends`. Images are named
    ``val_sample_<sample_idx>`` and stepped by the epoch (the iteration for
    iteration-based loops), so one file per sample and epoch is written
    (LocalVisBackend: ``<log_dir>/vis_data/vis_image/<name>_<step>.png``).

    Args:
        enable (bool): Whether to draw at all. Defaults to True.
        max_samples (int): Samples drawn per validation run. Defaults to 4.
        draw_gt (bool): Draw the GT 2D keypoints. Defaults to True.
        side_view_deg (float): Azimuth of the turned prediction panel.
            Defaults to 90.
        test_out_dir (str, optional): Also draw test samples, into this
            folder (relative to the log dir, ``<work_dir>/<timestamp>``)
            instead of the backends. ``tools/test.py --show-dir`` sets it.
        show (bool): Also display the test drawings in a window
            (``tools/test.py --show``). Defaults to False.
        wait_time (float): Seconds each window stays. Defaults to 1.
    """

    priority = 'LOW'

    def __init__(self,
                 enable: bool = True,
                 max_samples: int = 4,
                 draw_gt: bool = True,
                 side_view_deg: float = 90.0,
                 test_out_dir: Optional[str] = None,
                 show: bool = False,
                 wait_time: float = 1.0) -> None:
        self.enable = enable
        self.max_samples = int(max_samples)
        self.draw_gt = draw_gt
        self.side_view_deg = float(side_view_deg)
        self.test_out_dir = test_out_dir
        self.show = bool(show)
        self.wait_time = float(wait_time)
        self._visualizer: Optional[MeshVisualizer] = None
        self._drawn = 0

    # ------------------------------------------------------------------

    def _get_visualizer(self, runner) -> MeshVisualizer:
        if self._visualizer is None:
            visualizer = getattr(runner, 'visualizer', None)
            if not isinstance(visualizer, MeshVisualizer):
                visualizer = MeshVisualizer(
                    name=f'mesh_visualizer_{id(self)}',
                    save_dir=runner.log_dir)  # default_vis_backends()
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            body_model = model.head.body_model
            visualizer.set_body_model(body_model.faces_tensor,
                                      body_model.smpl.lbs_weights)
            self._visualizer = visualizer
        return self._visualizer

    def before_val_epoch(self, runner) -> None:
        self._drawn = 0

    def before_test_epoch(self, runner) -> None:
        self._drawn = 0

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence) -> None:
        """Draw the batch's samples until ``max_samples`` are drawn."""
        if not self.enable:
            return
        self._draw(
            runner, data_batch, outputs, self._step(runner), out_dir=None)

    @staticmethod
    def _step(runner) -> int:
        """The epoch for epoch-based training, else the iteration."""
        try:
            by_epoch = getattr(runner.train_loop, 'max_epochs', None)
        except RuntimeError:  # a runner built for validation/test only
            by_epoch = None
        return runner.epoch if by_epoch else runner.iter

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        if not self.enable or (self.test_out_dir is None and not self.show):
            return
        out_dir = None if self.test_out_dir is None else osp.join(
            runner.log_dir, self.test_out_dir)
        self._draw(
            runner, data_batch, outputs, 0, out_dir=out_dir, show=self.show)

    def _draw(self,
              runner,
              data_batch: dict,
              outputs: Sequence,
              step: int,
              out_dir: Optional[str],
              show: bool = False) -> None:
        visualizer = self._get_visualizer(runner)
        inputs = data_batch['inputs']
        for i, sample in enumerate(outputs):
            if self._drawn >= self.max_samples:
                return
            image = inputs[i]
            if torch.is_tensor(image):
                image = image.detach().cpu().permute(1, 2, 0).numpy()
            # The pipeline packs BGR uint8 crops (mmpose.LoadImage).
            image = cv2.cvtColor(
                np.ascontiguousarray(image, np.uint8), cv2.COLOR_BGR2RGB)
            idx = sample.metainfo.get('sample_idx', self._drawn)
            name = f'val_sample_{idx}'
            out_file = None
            if out_dir is not None:
                os.makedirs(out_dir, exist_ok=True)
                out_file = osp.join(out_dir, f'test_sample_{idx}.png')
            visualizer.add_datasample(
                name,
                image,
                sample,
                draw_gt=self.draw_gt,
                show=show,
                wait_time=self.wait_time,
                out_file=out_file,
                step=step,
                side_view_deg=self.side_view_deg)
            self._drawn += 1
