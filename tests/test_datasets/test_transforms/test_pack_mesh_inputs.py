import copy

import numpy as np
import pytest
import torch
from _helpers import make_results
from mmpose.datasets.transforms import TopdownAffine

from mmhuman_imphmr.datasets.transforms import PackMeshInputs
from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample


def _cropped(rng):
    results = make_results(rng, 60, 80)
    results['bbox_rotation'] = np.array([10.0], np.float32)
    results['flip'] = True
    return TopdownAffine(input_size=(32, 32))(results)


def test_pack_fields_and_shapes():
    results = _cropped(np.random.default_rng(0))
    packed = PackMeshInputs()(copy.deepcopy(results))
    inputs, sample = packed['inputs'], packed['data_samples']
    assert isinstance(sample, MeshDataSample)
    assert inputs.shape == (3, 32, 32) and inputs.dtype == torch.uint8
    # CHW of the crop, unchanged values.
    np.testing.assert_array_equal(
        inputs.permute(1, 2, 0).numpy(), results['img'])
    assert sample.gt_keypoints2d.shape == (49, 3)
    assert sample.gt_keypoints3d.shape == (24, 4)
    assert sample.gt_global_orient.shape == (3, )
    assert sample.gt_body_pose.shape == (69, )
    assert sample.gt_betas.shape == (10, )
    assert sample.has_smpl.item() == 1.0 and sample.has_kp3d.item() == 1.0
    meta = sample.metainfo
    assert meta['rotation'] == 10.0 and meta['flip'] is True
    assert meta['input_size'] == (32, 32) and meta['gender'] == 'neutral'
    assert meta['bbox_center'].shape == (2, )
    for key in ('sample_idx', 'img_path', 'dataset_name', 'bbox_scale'):
        assert key in meta


def _offcrop_results():
    results = _cropped(np.random.default_rng(1))
    kp = np.zeros((1, 49, 2), np.float32)
    kp[0, 0] = [0.0, 0.0]  # crop corner -> (-1, -1)
    kp[0, 1] = [16.0, 16.0]  # crop centre -> (0, 0)
    kp[0, 2] = [40.0, 5.0]  # right of the crop -> (1.5, -0.6875)
    kp[0, 3] = [8.0, -0.5]  # above the crop
    results['transformed_keypoints'] = kp
    results['keypoints_visible'] = np.ones((1, 49), np.float32)
    results['keypoints_visible'][0, 4] = 0
    return results


def test_pack_keypoints_normalised_and_outside_kept_as_spin():
    # SPIN's j2d_processing transforms and normalises (2 * kp / 224 - 1)
    # and never touches the confidence: joints outside the crop stay
    # supervised, with coordinates beyond [-1, 1].
    out = PackMeshInputs()(_offcrop_results())['data_samples'].gt_keypoints2d
    torch.testing.assert_close(out[0], torch.tensor([-1.0, -1.0, 1.0]))
    torch.testing.assert_close(out[1], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(out[2], torch.tensor([1.5, -0.6875, 1.0]))
    assert out[3, 2] == 1 and out[4, 2] == 0 and out[5, 2] == 1


def test_pack_drop_outside_keypoints_option():
    # The named deviation from SPIN: off-crop joints get confidence 0.
    pack = PackMeshInputs(drop_outside_keypoints=True)
    out = pack(_offcrop_results())['data_samples'].gt_keypoints2d
    torch.testing.assert_close(out[2], torch.tensor([1.5, -0.6875, 0.0]))
    assert out[0, 2] == 1 and out[1, 2] == 1
    assert out[3, 2] == 0 and out[4, 2] == 0 and out[5, 2] == 1
    assert 'drop_outside_keypoints=True' in repr(pack)


def test_pack_label_type_into_metainfo():
    results = _cropped(np.random.default_rng(3))
    results['label_type'] = 'pseudo_smpl'
    meta = PackMeshInputs()(copy.deepcopy(results))['data_samples'].metainfo
    assert meta['label_type'] == 'pseudo_smpl'
    # A custom meta_keys list still packs it: the losses are routed by it.
    sample = PackMeshInputs(
        meta_keys=('img_path', ))(copy.deepcopy(results))['data_samples']
    assert sample.metainfo == dict(img_path='x.png', label_type='pseudo_smpl')
    results['label_type'] = 'gt'
    with pytest.raises(
            ValueError,
            match=r"label_type must be one of "
            r"\('gt3d', 'pseudo_smpl', '2d_only'\), found 'gt'"):
        PackMeshInputs()(results)


def test_pack_without_smpl_labels_gives_zeros():
    results = _cropped(np.random.default_rng(2))
    for key in ('keypoints3d', 'smpl_global_orient', 'smpl_body_pose',
                'smpl_betas', 'has_smpl', 'has_kp3d'):
        results.pop(key)
    sample = PackMeshInputs()(results)['data_samples']
    assert sample.has_smpl.item() == 0 and sample.has_kp3d.item() == 0
    assert torch.count_nonzero(sample.gt_keypoints3d) == 0
    assert torch.count_nonzero(sample.gt_body_pose) == 0
