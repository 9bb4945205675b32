"""The test helper ``tests/humandata_factory.py`` builds what it promises."""
import pytest
import torch
from humandata_factory import KINDS, build_packed_batch

from mmhuman_imphmr.structures.mesh_data_sample import MeshDataSample

# kind -> (has_smpl, has_kp3d, label_type) every packed sample must carry:
# H36M files have MoSh SMPL and 3D joints, EFT files SMPL fits without 3D
# joints, 2D-only files neither (DESIGN §3).
EXPECTED = {
    'h36m': (1.0, 1.0, 'gt3d'),
    'eft': (1.0, 0.0, 'pseudo_smpl'),
    '2d_only': (0.0, 0.0, '2d_only'),
}


def test_expected_table_matches_the_factory():
    assert {k: (float(s), float(d), t) for k, (s, d, t) in KINDS.items()} \
        == EXPECTED


@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_each_kind_has_its_labels(tmp_path, kind):
    inputs, samples = build_packed_batch(tmp_path, kind, num=3, input_size=32)
    has_smpl, has_kp3d, label_type = EXPECTED[kind]
    # What the data preprocessor receives: float BGR values in [0, 255].
    assert inputs.shape == (3, 3, 32, 32) and inputs.dtype == torch.float32
    assert 0 <= inputs.min() and inputs.max() <= 255
    assert torch.equal(inputs, inputs.round())
    assert len(samples) == 3
    for sample in samples:
        assert isinstance(sample, MeshDataSample)
        assert sample.has_smpl.item() == has_smpl
        assert sample.has_kp3d.item() == has_kp3d
        assert sample.metainfo['label_type'] == label_type
        assert sample.metainfo['dataset_name'] == kind
        kp = sample.gt_keypoints2d
        # The 24 GT joints are annotated, inside the crop; OpenPose not.
        assert (kp[25:, 2] == 1).all() and (kp[:25, 2] == 0).all()
        assert kp[25:, :2].abs().max() < 1
        if has_smpl:
            assert 0 < sample.gt_betas.abs().max() < 2
            assert sample.gt_body_pose.abs().max() < 1.5
        else:
            assert torch.count_nonzero(sample.gt_betas) == 0
        assert (torch.count_nonzero(sample.gt_keypoints3d) > 0) == \
            bool(has_kp3d)


def test_label_type_argument(tmp_path):
    # None: inferred from the file; a string: declared as given.
    _, samples = build_packed_batch(
        tmp_path, 'eft', num=1, input_size=16, label_type=None)
    assert samples[0].metainfo['label_type'] == 'pseudo_smpl'
    _, samples = build_packed_batch(
        tmp_path, 'eft', num=1, input_size=16, label_type='2d_only')
    assert samples[0].metainfo['label_type'] == '2d_only'
    assert samples[0].has_smpl.item() == 1.0  # the labels stay the file's
    with pytest.raises(ValueError, match='label_type must be one of'):
        build_packed_batch(tmp_path, 'eft', num=1, label_type='eft')
