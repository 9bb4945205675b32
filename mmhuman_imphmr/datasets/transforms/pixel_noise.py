"""SPIN's per-channel multiplicative pixel noise."""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmhuman_imphmr.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomPixelNoise(BaseTransform):
    """Multiply each colour channel by a factor drawn from U[low, high].

    SPIN draws one factor per channel (``pn = uniform(1 - noise, 1 + noise,
    3)`` with ``noise = 0.4``) and clips the result to [0, 255]; the image
    keeps its dtype (uint8 images are rounded back to uint8).

    Required Keys:
        - img (ndarray[H, W, C])

    Modified Keys:
        - img

    Added Keys:
        - pixel_noise (ndarray[C], the factors used)

    Args:
        low (float): Lower bound of the factor. Defaults to 0.6 (SPIN).
        high (float): Upper bound of the factor. Defaults to 1.4 (SPIN).
    """

    def __init__(self, low: float = 0.6, high: float = 1.4) -> None:
        if not 0.0 <= low <= high:
            raise ValueError(f'RandomPixelNoise: need 0 <= low <= high, '
                             f'found low={low}, high={high}')
        self.low = low
        self.high = high

    @cache_randomness
    def _factors(self, channels: int) -> np.ndarray:
        return np.random.uniform(
            self.low, self.high, size=channels).astype(np.float32)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Scale the channels of ``img`` and clip to [0, 255]."""
        img = results['img']
        if img.ndim != 3:
            raise ValueError(f'RandomPixelNoise: img must be [H, W, C], '
                             f'found shape {img.shape}')
        factors = self._factors(img.shape[2])
        noisy = np.clip(img.astype(np.float32) * factors, 0.0, 255.0)
        if img.dtype == np.uint8:
            noisy = np.rint(noisy).astype(np.uint8)
        else:
            noisy = noisy.astype(img.dtype)
        results['img'] = noisy
        results['pixel_noise'] = factors
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(low={self.low}, high={self.high})'
