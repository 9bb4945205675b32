"""Embedding shape variance over imagined views (ImpHMR sec. 6.3)."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmhuman_imphmr.registry import METRICS
from ..functional import embedding_shape_variance


@METRICS.register_module()
class ESVMetric(BaseMetric):
    """ESV: how much the predicted β changes when only the view φ changes.

    Paper sec. 6.3: for each test sample, φ runs from 0° to 359° in 1° steps,
    the model predicts β at every φ; per β coefficient the population
    standard deviation over φ is taken, averaged over the ten coefficients,
    then over the samples. Lower is better; a view-invariant shape gives 0.

    The estimator writes ``pred_betas_views`` (``Tensor[A, 10]``, A = number
    of views: ``model.test_cfg.esv_angles``, 360 for the paper) for the
    samples with ``sample_idx < model.test_cfg.esv_max_samples`` (it costs A
    forward passes of the field per sample); other samples are ignored
    here.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric-name prefix; the key is ``esv``.
    """
    default_prefix: Optional[str] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the ESV of each sample that carries views (NaN otherwise:
        one entry per sample keeps mmengine's cross-rank collection exact)."""
        for sample in data_samples:
            views = sample.get('pred_betas_views')
            if views is None:
                self.results.append(dict(esv=math.nan, num_views=0))
                continue
            views = np.asarray(views.cpu() if hasattr(views, 'cpu') else views,
                               np.float64)
            if views.ndim != 2:
                raise ValueError(f'ESVMetric: pred_betas_views must be '
                                 f'[A, 10], found {views.shape}')
            self.results.append(
                dict(esv=float(embedding_shape_variance(views)[0]),
                     num_views=int(views.shape[0])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean ESV over the samples that had views."""
        values = [r['esv'] for r in results if r['num_views'] > 0]
        if not values:
            raise RuntimeError(
                'ESVMetric: no data sample carried "pred_betas_views". Set '
                'model.test_cfg.esv_angles=360 (views, as in the paper) and '
                'model.test_cfg.esv_max_samples (samples with sample_idx '
                'below it are evaluated over the views), e.g. --cfg-options '
                'model.test_cfg.esv_angles=360 '
                'model.test_cfg.esv_max_samples=100')
        return dict(esv=float(np.mean(values)))
