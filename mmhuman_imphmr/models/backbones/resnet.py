"""ResNet encoder with torchvision's / SPIN's parameter names.

The parameter names are exactly those of ``torchvision.models.resnet`` and of
SPIN's ``HMR`` network (``conv1``, ``bn1``, ``layer1`` .. ``layer4``, and in
each block ``conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.0/.1``), so an
ImageNet state dict from torchvision and the backbone part of SPIN's released
checkpoint load by name with no key mapping. ``mmpose.models`` (which has a
ResNet) cannot be imported without compiled ``mmcv.ops``, and torchvision is
not a dependency, hence this small re-implementation of the standard
architecture (He et al., 2016; stride on the 3x3 conv of the bottleneck, as
torchvision and SPIN do).
"""
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from mmhuman_imphmr.registry import MODELS
from mmhuman_imphmr.utils.typing import OptConfigType
from ..utils.gemm_conv import GemmConv2d


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or projected) shortcut."""
    expansion = 1

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 conv: Callable[..., nn.Conv2d] = nn.Conv2d) -> None:
        super().__init__()
        self.conv1 = conv(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), with a shortcut."""
    expansion = 4

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 conv: Callable[..., nn.Conv2d] = nn.Conv2d) -> None:
        super().__init__()
        self.conv1 = conv(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet-18/34/50/101/152 without the classifier.

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages (0..3) whose outputs are
            returned. Defaults to ``(3,)``.
        frozen_stages (int): Stages to freeze (parameters fixed and their
            BatchNorms in eval mode): -1 none, 0 the stem (conv1, bn1),
            ``i >= 1`` the stem and ``layer1`` .. ``layer{i}``. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode (running
            statistics frozen) while training. Defaults to False.
        zero_init_residual (bool): Zero-initialise the last BN of each block
            in the default init. Defaults to False (SPIN does not).
        gemm_max_pixels (int): The convolutions of the residual stages are
            :class:`GemmConv2d`: on CPU, an output of at most this many
            pixels is computed as im2col + one matrix product (same result,
            same parameters and state dict), where oneDNN is slow. Defaults
            to 4: only a 2 x 2 map, e.g. the last stage at 64 x 64 input
            (the CPU quick start), takes that path; 0 uses the stock kernel
            everywhere. At 224 x 224 the smallest map is 7 x 7, so the
            paper's recipes are unaffected.
        init_cfg (dict | list[dict], optional): MMEngine init config, e.g.
            ``dict(type='Pretrained', checkpoint='resnet50.pth')`` for a local
            torchvision file, or with ``prefix='backbone.'`` for a file
            written by ``tools/convert_spin_checkpoint.py``. Defaults to
            Kaiming-normal convolutions and unit/zero BatchNorms.

    Note:
        B: batch, C_i / H_i / W_i: channels and size of stage ``i``
        (``C = 64 * 2**i * expansion``, stride ``4 * 2**i``).
        At 224x224, depth 50 gives ``Tensor[B, 2048, 7, 7]`` for stage 3 and
        depth 18 gives ``Tensor[B, 512, 7, 7]``.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int = 50,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 gemm_max_pixels: int = 4,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Kaiming',
                    layer='Conv2d',
                    mode='fan_out',
                    nonlinearity='relu'),
                dict(type='Constant', val=1, bias=0, layer='BatchNorm2d'),
            ]
        super().__init__(init_cfg=init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'ResNet depth must be one of '
                           f'{sorted(self.arch_settings)}, found {depth}')
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(f'ResNet out_indices must be a non-empty subset '
                             f'of (0, 1, 2, 3), found {out_indices}')
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'ResNet frozen_stages must be in [-1, 4], '
                             f'found {frozen_stages}')
        self.depth = depth
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        if isinstance(gemm_max_pixels, bool) or \
                not isinstance(gemm_max_pixels, int) or gemm_max_pixels < 0:
            raise ValueError(f'ResNet gemm_max_pixels must be an int >= 0, '
                             f'found {gemm_max_pixels!r}')
        self._conv = partial(GemmConv2d, gemm_max_pixels=gemm_max_pixels)
        block, stage_blocks = self.arch_settings[depth]
        self.block = block

        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.res_layers: List[str] = []
        for i, num_blocks in enumerate(stage_blocks):
            layer = self._make_layer(
                block, 64 * 2**i, num_blocks, stride=1 if i == 0 else 2)
            name = f'layer{i + 1}'
            self.add_module(name, layer)
            self.res_layers.append(name)
        # Channels of each stage output.
        self.stage_channels = tuple(64 * 2**i * block.expansion
                                    for i in range(4))
        self.out_channels = self.stage_channels[out_indices[-1]]
        self._freeze_stages()

    def _make_layer(self, block: Type[Union[BasicBlock,
                                            Bottleneck]], planes: int,
                    num_blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # torchvision's projection shortcut: 1x1 conv (strided) + BN,
            # named downsample.0 / downsample.1.
            downsample = nn.Sequential(
                self._conv(
                    self.inplanes,
                    planes * block.expansion,
                    1,
                    stride,
                    bias=False), nn.BatchNorm2d(planes * block.expansion))
        layers = [
            block(self.inplanes, planes, stride, downsample, conv=self._conv)
        ]
        self.inplanes = planes * block.expansion
        layers += [
            block(self.inplanes, planes, conv=self._conv)
            for _ in range(1, num_blocks)
        ]
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """Apply ``init_cfg``; then zero the last BN of each block if asked
        (only for the default init, never over pretrained weights)."""
        super().init_weights()
        pretrained = isinstance(self.init_cfg, dict) and \
            self.init_cfg.get('type') == 'Pretrained'
        if self.zero_init_residual and not pretrained:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _frozen_modules(self) -> List[nn.Module]:
        modules: List[nn.Module] = []
        if self.frozen_stages >= 0:
            modules += [self.conv1, self.bn1]
        for i in range(1, self.frozen_stages + 1):
            modules.append(getattr(self, f'layer{i}'))
        return modules

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNet':
        """Set train mode, keeping frozen stages (and, with ``norm_eval``,
        every BatchNorm) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Encode images.

        Args:
            x (Tensor[B, 3, H, W]): Normalised images.

        Returns:
            tuple[Tensor[B, C_i, H_i, W_i]]: One map per ``out_indices``.
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
