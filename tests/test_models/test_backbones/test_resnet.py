"""ResNet backbone: shapes, torchvision/SPIN parameter names, freezing."""
from typing import List

import pytest
import torch
import torch.nn as nn

from mmhuman_imphmr.models.backbones import ResNet
from mmhuman_imphmr.registry import MODELS

BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var',
           'num_batches_tracked')


def torchvision_resnet_keys(depth: int) -> List[str]:
    """State-dict keys of torchvision's ResNet without ``fc``, written from
    the architecture description (torchvision is not installed here).

    Stem ``conv1/bn1``; stages ``layer1..4`` with (2,2,2,2) / (3,4,6,3) blocks
    for 18 / 50; BasicBlock has conv1/bn1/conv2/bn2, Bottleneck adds
    conv3/bn3; the first block of a stage has ``downsample.0`` (1x1 conv) and
    ``downsample.1`` (BN) when stride or width changes: stages 2-4 for
    BasicBlock, every stage for Bottleneck (64 -> 256 already in layer1).
    """
    bottleneck = depth >= 50
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    keys = ['conv1.weight'] + [f'bn1.{k}' for k in BN_KEYS]
    convs = 3 if bottleneck else 2
    for stage, num in enumerate(blocks, start=1):
        for b in range(num):
            p = f'layer{stage}.{b}'
            for c in range(1, convs + 1):
                keys.append(f'{p}.conv{c}.weight')
                keys += [f'{p}.bn{c}.{k}' for k in BN_KEYS]
            if b == 0 and (bottleneck or stage > 1):
                keys.append(f'{p}.downsample.0.weight')
                keys += [f'{p}.downsample.1.{k}' for k in BN_KEYS]
    return keys


@pytest.mark.parametrize('depth', [18, 50])
def test_state_dict_keys_match_torchvision_names(depth):
    model = ResNet(depth=depth)
    assert sorted(model.state_dict()) == sorted(torchvision_resnet_keys(depth))


@pytest.mark.parametrize('depth, count', [(18, 11_176_512), (50, 23_508_032)])
def test_parameter_count_matches_torchvision(depth, count):
    # torchvision documents 11,689,512 (resnet18) and 25,557,032 (resnet50)
    # parameters including the 1000-way fc (512*1000+1000 = 513,000 and
    # 2048*1000+1000 = 2,049,000), which this backbone does not have.
    model = ResNet(depth=depth)
    assert sum(p.numel() for p in model.parameters()) == count


def test_resnet18_all_stage_shapes():
    model = ResNet(depth=18, out_indices=(0, 1, 2, 3)).eval()
    outs = model(torch.randn(2, 3, 64, 64))
    # Strides 4, 8, 16, 32; widths 64 * 2**i (expansion 1).
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 16), (2, 128, 8, 8),
                                              (2, 256, 4, 4), (2, 512, 2, 2)]
    assert model.out_channels == 512


def test_resnet50_last_stage_shape_from_registry():
    model = MODELS.build(dict(type='ResNet', depth=50)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (1, 2048, 2, 2)
    assert model.out_channels == 2048


def test_frozen_stages_and_norm_eval():
    model = ResNet(depth=18, frozen_stages=1)
    model.train()
    assert not model.conv1.weight.requires_grad
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training

    model = ResNet(depth=18, norm_eval=True)
    model.train()
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))
    assert model.conv1.weight.requires_grad


def test_pretrained_init_from_local_torchvision_style_file(tmp_path):
    source = ResNet(depth=18)
    state = {
        k: torch.randn_like(v) if v.is_floating_point() else v
        for k, v in source.state_dict().items()
    }
    # torchvision files also hold the classifier, which must be ignored.
    state['fc.weight'] = torch.randn(1000, 512)
    state['fc.bias'] = torch.randn(1000)
    path = tmp_path / 'resnet18.pth'
    torch.save(state, path)
    model = ResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_default_init_is_kaiming_and_unit_bn():
    model = ResNet(depth=18)
    model.init_weights()
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    # Kaiming normal, fan_out, relu: std = sqrt(2 / (64 * 7 * 7)) = 0.0255.
    std = model.conv1.weight.std().item()
    assert 0.02 < std < 0.031


def test_bad_arguments_raise():
    with pytest.raises(KeyError, match='depth'):
        ResNet(depth=20)
    with pytest.raises(ValueError, match='out_indices'):
        ResNet(depth=18, out_indices=(4, ))
