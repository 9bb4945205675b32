"""tools/convert_spin_checkpoint.py on checkpoints written in SPIN's layout.

The source checkpoints are built here with random weights (SPIN's real file
is licensed and never downloaded). ResNet-18 keeps the files small; the
converter's ``--depth`` selects the layout and SPIN's own depth (50) is the
default. The reference output comes from an independent functional
re-implementation of SPIN's ``HMR.forward`` (models/hmr.py) that reads the
*source* dict by SPIN's key names, so a wrong key mapping, a transposed
weight or a different 6D convention in our modules would show up.
"""
import importlib.util
import os
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from mmhuman_imphmr.models.backbones import ResNet
from mmhuman_imphmr.models.heads import SMPLRegressionHead

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'convert_spin_checkpoint.py')
spec = importlib.util.spec_from_file_location('convert_spin_checkpoint', TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

DEPTH = 18
FEAT = 512  # ResNet-18 output channels


def _spin_state_dict(seed=0):
    """A random HMR (ResNet-18 variant) state dict with SPIN's key names."""
    g = torch.Generator().manual_seed(seed)
    names = {}
    names.update(ResNet(depth=DEPTH).state_dict())
    names.update(SMPLRegressionHead(in_channels=FEAT).state_dict())
    state = {}
    for key, value in names.items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=g) + 0.5
        elif key.startswith('dec'):
            # Large enough for the three iterations to matter.
            state[key] = torch.randn(value.shape, generator=g) * 0.05
        else:
            state[key] = torch.randn(value.shape, generator=g) * 0.1
    return state


def _bn(x, sd, p):
    return F.batch_norm(x, sd[p + '.running_mean'], sd[p + '.running_var'],
                        sd[p + '.weight'], sd[p + '.bias'], False, 0., 1e-5)


def _rot6d(x):
    # SPIN utils/geometry.py: view (-1, 3, 2), Gram-Schmidt on the columns,
    # stack b1, b2, b1 x b2 as columns.
    a = x.view(-1, 3, 2)
    b1 = F.normalize(a[:, :, 0], dim=1)
    b2 = F.normalize(
        a[:, :, 1] - (b1 * a[:, :, 1]).sum(1, keepdim=True) * b1, dim=1)
    return torch.stack([b1, b2, torch.cross(b1, b2, dim=1)], dim=-1)


def spin_hmr_forward(sd, img, n_iter=3):
    """SPIN HMR.forward (eval mode) for BasicBlock ResNets, from a raw dict."""
    x = F.relu(
        _bn(F.conv2d(img, sd['conv1.weight'], stride=2, padding=3), sd, 'bn1'))
    x = F.max_pool2d(x, 3, 2, 1)
    for stage, blocks in enumerate((2, 2, 2, 2), start=1):
        for b in range(blocks):
            p = f'layer{stage}.{b}'
            stride = 2 if (stage > 1 and b == 0) else 1
            out = F.relu(
                _bn(
                    F.conv2d(
                        x, sd[p + '.conv1.weight'], stride=stride, padding=1),
                    sd, p + '.bn1'))
            out = _bn(
                F.conv2d(out, sd[p + '.conv2.weight'], padding=1), sd,
                p + '.bn2')
            if p + '.downsample.0.weight' in sd:
                x = _bn(
                    F.conv2d(x, sd[p + '.downsample.0.weight'], stride=stride),
                    sd, p + '.downsample.1')
            x = F.relu(out + x)
    xf = x.mean(dim=(2, 3))  # SPIN's AvgPool2d(7) on its 7x7 map
    n = img.shape[0]
    pose = sd['init_pose'].expand(n, -1)
    shape = sd['init_shape'].expand(n, -1)
    cam = sd['init_cam'].expand(n, -1)
    for _ in range(n_iter):
        xc = torch.cat([xf, pose, shape, cam], 1)
        xc = F.linear(xc, sd['fc1.weight'], sd['fc1.bias'])
        xc = F.linear(xc, sd['fc2.weight'], sd['fc2.bias'])
        pose = F.linear(xc, sd['decpose.weight'], sd['decpose.bias']) + pose
        shape = F.linear(xc, sd['decshape.weight'], sd['decshape.bias']) + \
            shape
        cam = F.linear(xc, sd['deccam.weight'], sd['deccam.bias']) + cam
    return _rot6d(pose).view(n, 24, 3, 3), shape, cam


def _load_converted(path):
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    sd = ckpt['state_dict']
    backbone = ResNet(depth=DEPTH)
    head = SMPLRegressionHead(in_channels=FEAT)
    backbone.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in sd.items() if k.startswith('backbone.')
        },
        strict=True)
    head.load_state_dict(
        {
            k[len('head.'):]: v
            for k, v in sd.items() if k.startswith('head.')
        },
        strict=True)
    return ckpt, backbone.eval(), head.eval()


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_converted_checkpoint_reproduces_spin_forward(tmp_path, prefix):
    spin = _spin_state_dict()
    src = tmp_path / 'model_checkpoint.pt'
    torch.save(
        {
            'model': {
                prefix + k: v
                for k, v in spin.items()
            },
            'optimizer': {
                'state': {},
                'param_groups': []
            },
            'epoch': 3,
            'total_step_count': 1234
        }, src)
    dst = tmp_path / 'out' / 'spin_imphmr.pth'
    assert tool.main([str(src), str(dst), '--depth', str(DEPTH)]) == 0
    assert sorted(os.listdir(dst.parent)) == ['spin_imphmr.pth']  # no tmp

    ckpt, backbone, head = _load_converted(dst)
    assert ckpt['meta']['dropped_keys'] == []
    assert ckpt['meta']['spin'] == {'epoch': 3, 'total_step_count': 1234}
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feat = backbone(img)[-1].mean(dim=(2, 3))
        ours = head(feat, decode=False)
        ref_rot, ref_shape, ref_cam = spin_hmr_forward(spin, img)
    torch.testing.assert_close(
        ours['pred_rotmat'], ref_rot, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        ours['pred_betas'], ref_shape, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours['pred_cam'], ref_cam, atol=1e-5, rtol=1e-4)
    # The iterations moved the estimate away from the mean: the check is
    # not satisfied by the buffers alone.
    assert (ref_shape - spin['init_shape']).abs().max() > 1e-2


def test_extra_keys_are_dropped_and_reported(tmp_path):
    spin = _spin_state_dict()
    spin['fc.weight'] = torch.zeros(1000, FEAT)  # torchvision's classifier
    del spin['bn1.num_batches_tracked']  # pre-0.4.1 checkpoints lack these
    out, report = tool.convert_spin_state_dict(spin, depth=DEPTH)
    assert report == dict(
        dropped=['fc.weight'], unmatched=['bn1.num_batches_tracked'])
    assert 'backbone.conv1.weight' in out and 'head.fc1.weight' in out


def test_non_spin_file_is_refused_naming_missing_keys(tmp_path, capsys):
    src = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, src)
    dst = tmp_path / 'out.pth'
    assert tool.main([str(src), str(dst), '--depth', str(DEPTH)]) == 1
    err = capsys.readouterr().err
    assert 'not a SPIN HMR' in err and 'conv1.weight' in err
    assert 'fc1.weight' in err or 'more' in err
    assert not dst.exists()

    spin = _spin_state_dict()
    del spin['decpose.weight'], spin['init_cam']
    with pytest.raises(
            tool.SpinCheckpointError,
            match=r'decpose\.weight.*init_cam|init_cam.*decpose'):
        tool.convert_spin_state_dict(spin, depth=DEPTH)


def test_wrong_depth_is_refused_with_shapes(tmp_path):
    # A ResNet-18 file read as SPIN's default ResNet-50 misses the
    # bottleneck keys (conv3 ...): refused, with names.
    with pytest.raises(tool.SpinCheckpointError, match='conv3'):
        tool.convert_spin_state_dict(_spin_state_dict(), depth=50)
    spin = _spin_state_dict()
    spin['fc1.weight'] = torch.zeros(1024, 2048 + 157)
    with pytest.raises(tool.SpinCheckpointError, match='fc1.weight.*shape'):
        tool.convert_spin_state_dict(spin, depth=DEPTH)


def test_converted_file_loads_through_init_cfg_prefixes(tmp_path):
    # The config route: each module reads its part with mmengine's
    # PretrainedInit and the prefix the converter wrote.
    spin = _spin_state_dict(seed=1)
    src, dst = tmp_path / 'spin.pt', tmp_path / 'converted.pth'
    torch.save({'model': spin}, src)
    tool.convert_spin_checkpoint(str(src), str(dst), depth=DEPTH)
    backbone = ResNet(
        depth=DEPTH,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    head = SMPLRegressionHead(
        in_channels=FEAT,
        init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='head.'))
    backbone.init_weights()
    head.init_weights()
    for module, names in ((backbone, ResNet(depth=DEPTH).state_dict()),
                          (head, SMPLRegressionHead(FEAT).state_dict())):
        state = module.state_dict()
        for key in names:
            torch.testing.assert_close(state[key], spin[key])


def _build_from_config(config, body_model_root, checkpoint, **neck):
    """The model of ``configs/<config>`` narrowed to the ResNet-18 layout of
    these SPIN-format files and initialised from a converted checkpoint
    through its own ``init_cfg`` (as the Runner does)."""
    from mmengine.config import Config

    from mmhuman_imphmr.registry import MODELS
    from mmhuman_imphmr.utils.setup_env import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(osp.dirname(TOOL), '..', 'configs', config)).model
    cfg.init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint))
    cfg.backbone.depth = DEPTH
    cfg.neck.in_channels = cfg.head.in_channels = FEAT
    cfg.head.mean_params = None  # SPIN's mean parameters are in the file
    cfg.head.body_model.model_path = body_model_root
    cfg.neck.update(neck)
    return MODELS.build(cfg)


def test_plain_hmr_config_from_spin_checkpoint_is_spin(tmp_path,
                                                       body_model_root,
                                                       init_weights_quietly):
    """configs/hmr_r50_mix.py loaded from a converted SPIN checkpoint is
    SPIN's network: backbone -> GAP -> regressor, the reference being
    ``spin_hmr_forward`` above (written from SPIN's HMR.forward, reading the
    source dict by SPIN's key names). Both run the same float operations in
    the same order, so they agree to float32 rounding (atol 1e-6). ImpHMR's
    attention in front of GAP (the old baseline) changes SPIN's output at
    step 0, which is why the plain model exists."""
    spin = _spin_state_dict(seed=2)
    src, dst = tmp_path / 'spin.pt', tmp_path / 'converted.pth'
    torch.save({'model': spin}, src)
    tool.convert_spin_checkpoint(str(src), str(dst), depth=DEPTH)
    hmr = init_weights_quietly(
        _build_from_config('hmr_r50_mix.py', body_model_root, dst)).eval()
    assert sum(p.numel() for p in hmr.neck.parameters()) == 0
    assert hmr.silhouette_head is None and not hmr.view_aware
    # 96 x 96: the last stage's map is 3 x 3, so the backbone runs the stock
    # convolutions, as the reference does (a 2 x 2 map takes ResNet's GEMM
    # path, equal only to float rounding; tests/test_models/test_utils/
    # test_gemm_conv.py checks that path).
    img = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(3))

    def run(model):
        with torch.no_grad():
            feats = model.backbone(img)
            feats = feats[-1] if isinstance(feats, (tuple, list)) else feats
            return model.head(model.neck(feats).latent, decode=False)

    ours = run(hmr)
    with torch.no_grad():
        ref_rot, ref_shape, ref_cam = spin_hmr_forward(spin, img)
    for key, ref in (('pred_rotmat', ref_rot), ('pred_betas', ref_shape),
                     ('pred_cam', ref_cam)):
        torch.testing.assert_close(ours[key], ref, atol=1e-6, rtol=0)
    assert (ref_shape - spin['init_shape']).abs().max() > 1e-2

    gated = init_weights_quietly(
        _build_from_config(
            'hmr_r50_mix.py', body_model_root, dst,
            use_attention=True)).eval()
    assert (run(gated)['pred_rotmat'] - ref_rot).abs().max() > 1e-2
