import numpy as np
import pytest

from mmhuman_imphmr.datasets.transforms import RandomPixelNoise


def test_pixel_noise_range_and_per_channel_factor():
    np.random.seed(0)
    img = np.full((8, 8, 3), 200, np.uint8)
    img[0, 0] = 0
    results = RandomPixelNoise(low=0.6, high=1.4)(dict(img=img.copy()))
    out, factors = results['img'], results['pixel_noise']
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.all((factors >= 0.6) & (factors <= 1.4))
    # Each channel is 200 * its factor, clipped at 255 (so 0 stays 0).
    expected = np.clip(np.rint(200 * factors), 0, 255)
    np.testing.assert_array_equal(out[1, 1], expected)
    np.testing.assert_array_equal(out[0, 0], 0)


def test_pixel_noise_factor_extremes_stay_in_0_255():
    np.random.seed(1)
    img = np.random.randint(0, 256, (16, 16, 3)).astype(np.uint8)
    for _ in range(5):
        out = RandomPixelNoise(1.4, 1.4)(dict(img=img.copy()))['img']
        assert out.max() <= 255 and out.min() >= 0
        # A factor above 1 saturates bright pixels at 255, not wrap around.
        assert np.all(out[img > 200] == 255)
    with pytest.raises(ValueError):
        RandomPixelNoise(1.5, 1.0)
