"""GemmConvTranspose2d / GemmConv2d equal nn.ConvTranspose2d / nn.Conv2d
(values and gradients).

The reference is PyTorch's own (transposed) convolution with the same
parameters: both compute the same operator (a strided convolution or its
adjoint), so they must agree to float rounding on every shape the models
use.
"""
import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.backbones import ResNet
from mmhuman_imphmr.models.utils import GemmConv2d, GemmConvTranspose2d


def _check_same_function(stock_cls, gemm_cls, cin, cout, size, kernel, stride,
                         padding, bias):
    """The GEMM layer, loaded with the stock layer's weights, gives the same
    output and the same input / parameter gradients (float64), and really
    took the matmul path."""
    torch.manual_seed(0)
    kwargs = dict(stride=stride, padding=padding, bias=bias)
    ref = stock_cls(cin, cout, kernel, **kwargs).double()
    fast = gemm_cls(cin, cout, kernel, **kwargs).double()
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
    _check_same_function(nn.ConvTranspose2d, GemmConvTranspose2d, cin, cout,
                         size, kernel, stride, padding, bias)


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


@pytest.mark.parametrize(
    'cin,cout,size,kernel,stride,padding,bias',
    [
        (32, 16, 2, 3, 1, 1, False),  # ResNet-18's last stage at 64 x 64
        (16, 32, 4, 3, 2, 1, False),  # its strided first conv onto 2 x 2
        (16, 32, 4, 1, 2, 0, False),  # its 1 x 1 projection shortcut
        (6, 5, 3, 3, 1, 0, True),  # 3 x 3 onto a 1 x 1 output, bias
        (6, 4, 2, (1, 3), 1, (0, 1), True),  # non-square kernel
    ])
def test_conv2d_matches_conv2d(cin, cout, size, kernel, stride, padding, bias):
    _check_same_function(nn.Conv2d, GemmConv2d, cin, cout, size, kernel,
                         stride, padding, bias)


def test_conv2d_large_outputs_and_other_layouts_use_the_stock_kernel(
        monkeypatch):
    layer = GemmConv2d(4, 2, 3, padding=1)
    assert layer._gemm_applies(torch.zeros(1, 4, 2, 2))  # 4 output pixels
    assert not layer._gemm_applies(torch.zeros(1, 4, 4, 4))  # 16 > 4
    assert GemmConv2d(
        4, 2, 3, padding=1,
        gemm_max_pixels=16)._gemm_applies(torch.zeros(1, 4, 4, 4))
    assert not GemmConv2d(
        4, 2, 3, padding=1, gemm_max_pixels=0)._gemm_applies(
            torch.zeros(1, 4, 2, 2))
    # Layouts the unfold path does not implement keep the stock kernel.
    assert not GemmConv2d(
        4, 4, 3, padding=1, groups=2)._gemm_applies(torch.zeros(1, 4, 2, 2))
    assert not GemmConv2d(
        4, 2, 3, padding=2, dilation=2)._gemm_applies(torch.zeros(1, 4, 2, 2))
    assert not GemmConv2d(
        4, 2, 3, padding=1, padding_mode='reflect')._gemm_applies(
            torch.zeros(1, 4, 2, 2))
    assert not GemmConv2d(
        4, 2, 3, padding='same')._gemm_applies(torch.zeros(1, 4, 2, 2))
    calls = []
    monkeypatch.setattr(nn.Conv2d, 'forward', lambda self, x: calls.append(1))
    layer(torch.zeros(1, 4, 4, 4))
    assert len(calls) == 1
    layer(torch.zeros(1, 4, 2, 2))
    assert len(calls) == 1  # the matmul path did not call the stock kernel


def test_conv2d_state_dict_loads_into_a_plain_conv():
    fast = GemmConv2d(4, 2, 3, padding=1, bias=True)
    plain = nn.Conv2d(4, 2, 3, padding=1, bias=True)
    plain.load_state_dict(fast.state_dict())  # same keys and shapes
    assert isinstance(fast, nn.Conv2d)


def test_resnet18_at_64_same_function_with_and_without_gemm():
    """The quick start's backbone: the last stage (2 x 2) takes the matmul
    path, and the network computes the same outputs and gradients as with
    the stock kernel everywhere (``gemm_max_pixels=0``), same weights."""
    torch.manual_seed(0)
    fast = ResNet(depth=18).double()
    fast.init_weights()
    stock = ResNet(depth=18, gemm_max_pixels=0).double()
    stock.load_state_dict(fast.state_dict())
    # Record which convolutions take the matmul path on the real inputs.
    taken = {}

    def record(name):

        def hook(module, args, out):
            taken[name] = module._gemm_applies(args[0])

        return hook

    for name, m in fast.named_modules():
        if isinstance(m, GemmConv2d):
            m.register_forward_hook(record(name))
    x = torch.randn(2, 3, 64, 64, dtype=torch.double)
    (y, ), (y_ref, ) = fast(x), stock(x)
    assert y.shape == (2, 512, 2, 2)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-9)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, list(fast.parameters()), g)
    grads_ref = torch.autograd.grad(y_ref, list(stock.parameters()), g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)
    # All of layer4 (2 x 2 outputs, 5 convolutions with the shortcut) and
    # nothing else: the stem is a plain conv, layers 1-3 have larger maps.
    assert sorted(k for k, v in taken.items()
                  if v) == sorted(k for k in taken if k.startswith('layer4.'))
    assert len([k for k in taken if k.startswith('layer4.')]) == 5
    assert type(fast.conv1) is nn.Conv2d
    # The default Kaiming init reaches the subclass (mmengine matches base
    # class names): fan_out std = sqrt(2 / (512 * 9)) for layer4's 3x3.
    w = fast.layer4[1].conv1.weight
    assert abs(w.std().item() - (2 / (512 * 9))**0.5) < 2e-3


@pytest.mark.parametrize('bad', [-1, 2.5, True, '4'])
def test_resnet_gemm_max_pixels_is_checked(bad):
    with pytest.raises(ValueError, match='gemm_max_pixels'):
        ResNet(depth=18, gemm_max_pixels=bad)
