"""Metric functions on hand-made cases with known answers."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mmhuman_imphmr.evaluation.functional import (align_by_joint, gender_name,
                                                  is_constant, mpjpe, pa_mpjpe,
                                                  prediction_spread, pve,
                                                  shape_view_entanglement,
                                                  similarity_procrustes)


def _joints(n=4, j=14, seed=0):
    return np.random.default_rng(seed).normal(size=(n, j, 3))


def test_pa_mpjpe_of_similarity_copy_is_zero():
    gt = _joints()
    rot = Rotation.random(4, random_state=1).as_matrix()  # (4, 3, 3)
    scale = np.array([0.5, 1.0, 2.0, 3.7])
    shift = np.random.default_rng(2).normal(size=(4, 1, 3))
    pred = scale[:, None, None] * np.einsum('nik,njk->nji', rot, gt) + shift
    assert mpjpe(pred, gt).min() > 0.1  # the copy really is moved
    np.testing.assert_allclose(pa_mpjpe(pred, gt), 0, atol=1e-9)
    np.testing.assert_allclose(similarity_procrustes(pred, gt), gt, atol=1e-9)


def test_procrustes_does_not_reflect():
    # A mirror image cannot be reached by scale + rotation + translation, so
    # its PA error stays > 0 (an unconstrained orthogonal fit would give 0).
    gt = _joints(n=1)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe(mirrored, gt)[0] > 1e-3
    aligned = similarity_procrustes(mirrored, gt)
    p = mirrored[0] - mirrored[0].mean(0)
    a = aligned[0] - aligned[0].mean(0)
    rot, *_ = np.linalg.lstsq(p, a, rcond=None)
    assert np.linalg.det(rot) > 0


def test_mpjpe_after_pelvis_alignment():
    gt = _joints()
    offset = np.array([0.3, -1.0, 2.0])
    pred = gt + offset
    # Constant offset: 0 once both are centred on their pelvis (joint 0).
    np.testing.assert_allclose(
        mpjpe(align_by_joint(pred, pred[:, 0]), align_by_joint(gt, gt[:, 0])),
        0,
        atol=1e-12)
    # Moving one non-pelvis joint by d among J joints: mean error = d / J.
    pred = gt.copy()
    pred[:, 5] += np.array([0.0, 0.03, 0.04])  # |d| = 0.05
    err = mpjpe(align_by_joint(pred, pred[:, 0]), align_by_joint(gt, gt[:, 0]))
    np.testing.assert_allclose(err, 0.05 / 14)
    # Masked joints are left out of the mean.
    mask = np.ones((4, 14))
    mask[:, 5] = 0
    np.testing.assert_allclose(mpjpe(pred, gt, mask), 0, atol=1e-12)
    # PVE is the same mean distance on vertices, no alignment.
    np.testing.assert_allclose(pve(gt + offset, gt), np.linalg.norm(offset))
    with pytest.raises(ValueError, match=r'\[N, J, 3\]'):
        mpjpe(pred, gt[:, :3])


def test_esv():
    phi = np.deg2rad(np.arange(360))  # the paper's 0..359 degrees
    invariant = np.tile(
        np.random.default_rng(0).normal(size=(1, 1, 10)), (2, 360, 1))
    np.testing.assert_allclose(
        shape_view_entanglement(invariant), 0, atol=1e-12)
    betas = np.zeros((1, 360, 10))
    betas[0, :, 0] = np.sin(phi)
    # Over whole periods sin has mean 0 and mean square 1/2, so its population
    # std is 1/sqrt(2); the nine constant betas add 0; mean over ten betas.
    np.testing.assert_allclose(
        shape_view_entanglement(betas), [1 / np.sqrt(2) / 10], rtol=1e-12)


def test_prediction_spread_and_is_constant():
    # Rows 0..3 of a column that is (0, 2, 0, 2): population std 1; the other
    # column is constant (std 0); mean over the two components: 0.5.
    values = np.array([[0., 5.], [2., 5.], [0., 5.], [2., 5.]])
    assert prediction_spread(values) == pytest.approx(0.5, rel=1e-12)
    assert prediction_spread(np.tile(values[:1], (4, 1))) == 0.0
    # Joint-shaped input is flattened per sample: same statistic.
    assert prediction_spread(values.reshape(4, 1, 2)) == pytest.approx(0.5)
    # numpy isclose convention: spread <= atol + rtol * |scale|.
    assert is_constant(1e-6, 1.0, rtol=1e-5, atol=1e-6)
    assert is_constant(1.1e-5, 1.0, rtol=1e-5, atol=1e-6)
    assert not is_constant(1.2e-5, 1.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='N >= 1'):
        prediction_spread(np.zeros((0, 3)))


@pytest.mark.parametrize(
    'value, expected',
    [
        (None, 'neutral'),
        ('', 'neutral'),
        ('neutral', 'neutral'),
        ('male', 'male'),
        (' Female ', 'female'),
        ('m', 'male'),
        ('F', 'female'),
        (b'f', 'female'),
        (np.str_('m'), 'male'),
        (np.array('f'), 'female'),
        # SPIN / PARE / mmhuman3d integer codes: 0 = male, 1 = female.
        (0, 'male'),
        (1, 'female'),
        (np.int64(0), 'male'),
        (np.int8(1), 'female'),
        (np.array([1], np.int32), 'female'),
    ])
def test_gender_name_maps(value, expected):
    assert gender_name(value) == expected


def test_gender_name_maps_tensors():
    torch = pytest.importorskip('torch')
    assert gender_name(torch.tensor(0)) == 'male'
    assert gender_name(torch.tensor([1])) == 'female'


@pytest.mark.parametrize(
    'value, match',
    [
        (2, 'unknown gender code 2'),  # this package's cache: 2 = female
        (-1, 'unknown gender code -1'),  # SPIN's "no gender": must be explicit
        (True, 'type bool'),
        (np.bool_(False), 'type bool'),
        (0.0, 'type float'),
        (np.float32(1), 'type float32'),
        ('0', 'code written as text'),
        ('robot', "unknown gender 'robot'"),
        (np.array([0, 1]), r'shape \(2,\)'),
    ])
def test_gender_name_refuses(value, match):
    with pytest.raises(ValueError, match=match) as info:
        gender_name(value, 'sample_idx=7')
    assert 'sample_idx=7' in str(info.value)
    assert '0 = male, 1 = female' in str(info.value)
