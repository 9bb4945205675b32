"""Metric functions on hand-made cases with known answers."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mmhuman_imphmr.evaluation.functional import (align_by_joint,
                                                  embedding_shape_variance,
                                                  mpjpe, pa_mpjpe, pve,
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
        0, atol=1e-12)
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
    invariant = np.tile(np.random.default_rng(0).normal(size=(1, 1, 10)),
                        (2, 360, 1))
    np.testing.assert_allclose(embedding_shape_variance(invariant), 0,
                               atol=1e-12)
    betas = np.zeros((1, 360, 10))
    betas[0, :, 0] = np.sin(phi)
    # Over whole periods sin has mean 0 and mean square 1/2, so its population
    # std is 1/sqrt(2); the nine constant betas add 0; mean over ten betas.
    np.testing.assert_allclose(embedding_shape_variance(betas),
                               [1 / np.sqrt(2) / 10], rtol=1e-12)
