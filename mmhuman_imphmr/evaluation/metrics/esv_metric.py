"""ESV, the Entanglement between Shape and Viewing direction (ImpHMR sec. 4.2,
Table 3; defined in the supplementary, sec. 6.3), with the checks that keep a
dead model from scoring a perfect 0."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmhuman_imphmr.registry import METRICS
from ..functional import (is_constant, prediction_spread,
                          shape_view_entanglement)


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu()
    return np.asarray(value, np.float64)


@METRICS.register_module()
class ESVMetric(BaseMetric):
    """ESV: how much the predicted β changes when only the view φ changes.

    Paper (supp. sec. 6.3): for each test sample, φ runs from 0° to 359° in
    1° steps, the model predicts β at every φ; per β coefficient the
    population standard deviation over φ is taken, averaged over the ten
    coefficients, then over the samples. Lower is better; a view-invariant
    shape gives 0.

    The estimator writes ``pred_betas_views`` (``Tensor[A, 10]``, A = number
    of views: ``model.test_cfg.esv_angles``, 360 for the paper) for the
    samples with ``sample_idx < model.test_cfg.esv_max_samples`` (it costs A
    forward passes of the field per sample); other samples do not enter the
    ESV itself but do enter the image-dependence check below.

    **A constant model scores a perfect 0.** A feature field that renders
    opacity ~0 gives a zero feature map at every φ, so β(φ) cannot change
    with φ; it cannot change with the image either. Three checks, each a
    key that is 1.0 when it fires and 0.0 otherwise, with a WARNING in the
    log saying what was found:

    * ``esv_image_blind``: the canonical β (``pred_betas``, else the first
      view, φ = 0) does not depend on the image: its spread over all
      evaluated samples (mean over the 10 coefficients of the population
      std over the samples, reported as ``esv_betas_std``) is at most
      ``atol + rtol * mean|β|``. Needs >= 2 samples (with fewer the check is
      skipped with a warning and the flag is 0.0).
    * ``esv_dead_field``: the mean of ``pred_opacity`` (mean rendered
      opacity of the canonical map, written by the estimator when the neck
      volume-renders; reported as ``esv_opacity``) is below
      ``opacity_threshold``. Samples without ``pred_opacity`` (necks that do
      not render) are not checked: the flag is 0.0.
    * ``esv_view_constant``: β is identical at every view for every sample
      with views (each sample's ESV at most ``atol + rtol * mean|β|``). With
      a dead field this is the *consequence* of the dead field; alone it
      means the prediction does not use φ (the plain baseline by
      construction; for ImpHMR / PTN, a disconnected view path).

    ``esv`` is **NaN** when the model is degenerate: ``esv_dead_field``, or
    ``esv_image_blind`` together with ``esv_view_constant`` (one constant
    prediction for every image and every view). Rationale: then ESV = 0 is
    not a measurement of how well shape and view are disentangled, it is
    true of any constant; a finite 0.000 would be the best possible entry
    in a results table, a JSON file or ``save_best='esv'``. NaN cannot be
    mistaken for a result: it compares False with every number, so
    mmengine's ``CheckpointHook`` never selects it as best; mmengine's log
    processor prints it as ``nan`` and its JSON backend writes ``NaN``. The
    value that was computed is always reported as ``esv_raw``. In every
    other case ``esv == esv_raw`` (the flags still say what was found, e.g.
    an image-blind model whose β does vary with φ).

    Args:
        rtol (float): Relative tolerance of "does not vary" (image and view
            checks), relative to the mean |β|. Defaults to 1e-6. Measured
            with ``configs/imphmr_r18_synthetic.py`` freshly initialised (3
            seeds, 6 images, 36 views): with the field killed (density
            bias -1e4) both spreads are exactly 0, and rows of one batched
            float32 product differ by ~1e-8 relative; the live untrained
            model's β spreads ~4e-5 over the images (its regressor's output
            layer has xavier gain 0.01) and its ESV is ~4e-4; trained
            models in the paper's Table 3: 0.03 - 0.09.
        atol (float): Absolute tolerance of the same checks, for β near 0.
            Defaults to 1e-7.
        opacity_threshold (float): ``esv_dead_field`` when the mean rendered
            opacity (``1 - transmittance`` of a whole ray, in [0, 1]) is
            below this. Default 1e-3: the rendered map is then < 0.1 % of
            the field's features, i.e. the aggregation sees ~0 at every
            view; a live GIRAFFE-style field (last δ = 1e10, so any ray that
            meets density is opaque) is orders of magnitude above it.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric-name prefix; the keys are ``esv``,
            ``esv_raw``, ``esv_image_blind``, ``esv_dead_field``,
            ``esv_view_constant``, and when measurable ``esv_betas_std`` and
            ``esv_opacity``.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 rtol: float = 1e-6,
                 atol: float = 1e-7,
                 opacity_threshold: float = 1e-3,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.opacity_threshold = float(opacity_threshold)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store per sample: its ESV (NaN without views: one entry per sample
        keeps mmengine's cross-rank collection exact), its canonical β and
        its rendered opacity (NaN when absent)."""
        for sample in data_samples:
            views = sample.get('pred_betas_views')
            betas = sample.get('pred_betas')
            opacity = sample.get('pred_opacity')
            result = dict(
                esv=math.nan,
                num_views=0,
                scale=math.nan,
                betas=None,
                opacity=math.nan)
            if views is not None:
                views = _numpy(views)
                if views.ndim != 2:
                    raise ValueError(f'ESVMetric: pred_betas_views must be '
                                     f'[A, 10], found {views.shape}')
                result.update(
                    esv=float(shape_view_entanglement(views)[0]),
                    num_views=int(views.shape[0]),
                    scale=float(np.abs(views).mean()))
            if betas is not None:
                result['betas'] = _numpy(betas).reshape(-1).tolist()
            elif views is not None:  # view 0 is phi = 0, the canonical one
                result['betas'] = views[0].tolist()
            if opacity is not None:
                opacity = _numpy(opacity)
                if opacity.size != 1:
                    raise ValueError(
                        f'ESVMetric: pred_opacity must be a scalar (mean '
                        f'opacity of the canonical map), found shape '
                        f'{opacity.shape} in sample '
                        f'{sample.get("sample_idx")}')
                result['opacity'] = float(opacity.reshape(()))
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean ESV over the samples that had views, and the checks."""
        with_views = [r for r in results if r['num_views'] > 0]
        if not with_views:
            raise RuntimeError(
                'ESVMetric: no data sample carried "pred_betas_views". Set '
                'model.test_cfg.esv_angles=360 (views, as in the paper) and '
                'model.test_cfg.esv_max_samples (samples with sample_idx '
                'below it are evaluated over the views), e.g. --cfg-options '
                'model.test_cfg.esv_angles=360 '
                'model.test_cfg.esv_max_samples=100')
        logger = MMLogger.get_current_instance()
        esv_raw = float(np.mean([r['esv'] for r in with_views]))
        metrics = dict(esv_raw=esv_raw)

        # (a) does the canonical beta depend on the image?
        betas = [r['betas'] for r in results if r['betas'] is not None]
        image_blind = False
        if len(betas) >= 2:
            spread = prediction_spread(np.asarray(betas))
            scale = float(np.abs(np.asarray(betas)).mean())
            image_blind = is_constant(spread, scale, self.rtol, self.atol)
            metrics['esv_betas_std'] = spread
        else:
            logger.warning(
                f'ESVMetric: only {len(betas)} sample(s) carry a predicted '
                f'beta: cannot check that it depends on the image '
                f'(esv_image_blind=0.0 means "not checked" here)')

        # (b) does the field render anything?
        opacities = [
            r['opacity'] for r in results if not math.isnan(r['opacity'])
        ]
        dead_field = False
        if opacities:
            opacity = float(np.mean(opacities))
            dead_field = opacity < self.opacity_threshold
            metrics['esv_opacity'] = opacity

        # (c) is beta identical at every view?
        view_constant = all(
            is_constant(r['esv'], r['scale'], self.rtol, self.atol)
            for r in with_views)

        degenerate = dead_field or (image_blind and view_constant)
        metrics.update(
            esv=math.nan if degenerate else esv_raw,
            esv_image_blind=float(image_blind),
            esv_dead_field=float(dead_field),
            esv_view_constant=float(view_constant))
        self._warn(logger, metrics, len(betas), len(opacities),
                   len(with_views))
        # 'esv' first (mmengine's save_best='auto' takes the first key),
        # then the value computed, the flags, the diagnostics.
        order = ('esv', 'esv_raw', 'esv_image_blind', 'esv_dead_field',
                 'esv_view_constant', 'esv_betas_std', 'esv_opacity')
        return {k: metrics[k] for k in order if k in metrics}

    def _warn(self, logger: MMLogger, m: Dict[str, float], num_betas: int,
              num_opacity: int, num_views: int) -> None:
        """One WARNING per check that fired, saying what it means."""
        tol = f'atol {self.atol:g} + rtol {self.rtol:g} x mean|beta|'
        if m['esv_dead_field']:
            logger.warning(
                f'ESVMetric: dead feature field: the mean rendered opacity '
                f'of the canonical view is {m["esv_opacity"]:.3g} over '
                f'{num_opacity} samples (< opacity_threshold '
                f'{self.opacity_threshold:g}), so the rendered feature map '
                f'is ~0 at every view and beta cannot depend on phi' +
                (' (beta is indeed identical at every view)'
                 if m['esv_view_constant'] else '') +
                f'. ESV {m["esv_raw"]:.4g} measures a dead field, not view '
                f'invariance: reported as esv=nan (computed value in '
                f'esv_raw).')
        if m['esv_image_blind']:
            logger.warning(
                f'ESVMetric: the predicted beta does not depend on the '
                f'image: its spread over {num_betas} samples is '
                f'{m["esv_betas_std"]:.3g} (<= {tol}). The model predicts '
                f'one shape for every input (untrained, collapsed, or a '
                f'dead field); its ESV says nothing about view invariance.')
        if m['esv_view_constant'] and not m['esv_dead_field']:
            logger.warning(
                f'ESVMetric: beta is identical at every view for all '
                f'{num_views} samples with views (ESV {m["esv_raw"]:.3g}, '
                f'<= {tol}): exact for a model whose prediction does not '
                f'use phi (the plain baseline); for ImpHMR / PTN it means '
                f'phi does not reach the prediction.' +
                (' Together with an image-blind beta the model is a '
                 'constant: reported as esv=nan (computed value in '
                 'esv_raw).' if m['esv_image_blind'] else ''))
