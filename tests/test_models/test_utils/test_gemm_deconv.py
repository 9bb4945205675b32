"""GemmConvTranspose2d equals nn.ConvTranspose2d (values and gradients).

The reference is PyTorch's own transposed convolution with the same
parameters: both compute the adjoint of a strided convolution, so they must
agree to float rounding on every shape the silhouette decoder uses.
"""
import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.utils import GemmConvTranspose2d


@pytest.mark.parametrize(
    'cin,cout,size,kernel,stride,padding,bias',
    [
        (64, 16, 4, 4, 2, 1, False),  # the silhouette decoder's first block
        (8, 5, 3, 3, 1, 0, True),  # odd kernel, stride 1, bias
        (6, 4, 1, 4, 2, 1, False),  # a 1 x 1 map (Table 7's map size 1)
        (6, 4, 2, 5, 3, 2, True),  # stride > 1 with odd padding
    ])
def test_matches_conv_transpose2d(cin, cout, size, kernel, stride, padding,
                                  bias):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(
        cin, cout, kernel, stride=stride, padding=padding, bias=bias).double()
    fast = GemmConvTranspose2d(
        cin, cout, kernel, stride=stride, padding=padding, bias=bias).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(3, cin, size, size, dtype=torch.double, requires_grad=True)
    assert fast._gemm_applies(x)
    y_ref, y = ref(x), fast(x)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(y)
    grads_ref = torch.autograd.grad(y_ref, [x] + list(ref.parameters()), g)
    grads = torch.autograd.grad(y, [x] + list(fast.parameters()), g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_large_maps_and_output_size_use_the_stock_kernel(monkeypatch):
    layer = GemmConvTranspose2d(4, 2, 4, stride=2, padding=1)
    assert not layer._gemm_applies(torch.zeros(1, 4, 8, 8))  # 64 > 16 pixels
    assert layer._gemm_applies(torch.zeros(1, 4, 4, 4))
    calls = []
    monkeypatch.setattr(
        nn.ConvTranspose2d,
        'forward',
        lambda self, x, output_size=None: calls.append(1))
    layer(torch.zeros(1, 4, 8, 8))
    layer(torch.zeros(1, 4, 4, 4), output_size=(8, 8))
    assert len(calls) == 2
    layer(torch.zeros(1, 4, 4, 4))
    assert len(calls) == 2  # the matmul path did not call the stock kernel


def test_state_dict_loads_into_a_plain_conv_transpose():
    fast = GemmConvTranspose2d(4, 2, 4, stride=2, padding=1)
    plain = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
    plain.load_state_dict(fast.state_dict())  # same keys and shapes
    assert isinstance(fast, nn.ConvTranspose2d)
