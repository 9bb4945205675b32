"""LabelTypeRouting with hand-made flags: which sample feeds which term.

The expected tables are the paper's routing as argued in DESIGN §3: GT-3D ->
L_reg + L_imag, pseudo-SMPL -> L_reg + L_imag + L_cons, 2D only -> L_reg +
L_cons; inside a loss a term needs its label (3D joints: has_kp3d; pose,
betas, silhouette: has_smpl), L_cons needs none.
"""
import math

import pytest
import torch

from mmhuman_imphmr.models.estimators.loss_routing import (LabelTypeRouting,
                                                           sample_angles)
from mmhuman_imphmr.registry import TASK_UTILS
from mmhuman_imphmr.utils.constants import LABEL_TYPES


def _targets(types, has_smpl, has_kp3d):
    return dict(
        label_type=torch.tensor([LABEL_TYPES.index(t) for t in types]),
        has_smpl=torch.tensor(has_smpl),
        has_kp3d=torch.tensor(has_kp3d))


# H36M-like, EFT-like, 2D-only, and a 2D-only sample whose file has SMPL.
TARGETS = _targets(['gt3d', 'pseudo_smpl', '2d_only', '2d_only'],
                   [1., 1., 0., 1.], [1., 0., 0., 0.])


def test_default_routes_term_by_term():
    routing = TASK_UTILS.build(dict(type='LabelTypeRouting'))
    reg = routing.term_weights(TARGETS, 'reg')
    assert set(reg) == {'keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam'}
    assert reg['keypoints2d'].tolist() == [1., 1., 1., 1.]
    assert reg['cam'].tolist() == [1., 1., 1., 1.]
    assert reg['keypoints3d'].tolist() == [1., 0., 0., 0.]
    # L_reg's SMPL terms follow the labels the sample has (SPIN).
    assert reg['pose'].tolist() == [1., 1., 0., 1.]
    imag = routing.term_weights(TARGETS, 'imag',
                                ('keypoints3d', 'pose', 'betas', 'silhouette'))
    # GT-3D and pseudo-SMPL imagine; EFT has no 3D joints -> that term off.
    assert imag['keypoints3d'].tolist() == [1., 0., 0., 0.]
    for term in ('pose', 'betas', 'silhouette'):
        assert imag[term].tolist() == [1., 1., 0., 0.], term
    cons = routing.term_weights(TARGETS, 'cons')
    assert set(cons) == {'pose', 'betas'}
    assert cons['pose'].tolist() == [0., 1., 1., 1.]
    assert cons['betas'].tolist() == [0., 1., 1., 1.]
    assert 'gt3d: L_reg' in routing.describe()


def test_switches_and_custom_routes():
    # The Table 4 rows switch whole losses off.
    reg_imag = LabelTypeRouting(enabled=('reg', 'imag'))
    assert reg_imag.term_weights(TARGETS, 'cons')['pose'].tolist() == [0.] * 4
    assert reg_imag.sample_mask(TARGETS['label_type'],
                                'imag').tolist() == [1., 1., 0., 0.]
    # A config can re-route a label type.
    no_cons_on_eft = LabelTypeRouting(routes={'pseudo_smpl': ('reg', 'imag')})
    assert no_cons_on_eft.sample_mask(TARGETS['label_type'],
                                      'cons').tolist() == [0., 0., 1., 1.]
    with pytest.raises(KeyError, match='routes'):
        LabelTypeRouting(routes={'eft': ('reg', )})
    with pytest.raises(KeyError, match='routes'):
        LabelTypeRouting(routes={'gt3d': ('reg', 'silhouette')})
    with pytest.raises(KeyError, match='terms'):
        LabelTypeRouting(terms={'imag': ('vertices', )})
    with pytest.raises(KeyError, match='silhouette'):
        LabelTypeRouting(terms={'reg': ('silhouette', )})
    # Eq. 7 has a pose and a shape term only.
    with pytest.raises(KeyError, match='cons compares'):
        LabelTypeRouting(terms={'cons': ('keypoints2d', )})
    with pytest.raises(KeyError, match='enabled'):
        LabelTypeRouting(enabled=('reg', 'imagination'))
    with pytest.raises(ValueError, match="'canonical'"):
        LabelTypeRouting().sample_mask(TARGETS['label_type'], 'canonical')


def test_plan_renders_only_the_views_a_loss_uses():
    g = torch.Generator().manual_seed(0)
    routing = LabelTypeRouting()
    plan = routing.plan(TARGETS, generator=g)
    assert plan.phi.shape == (4, 2) and (plan.phi[:, 0] == 0).all()
    assert set(plan.weights) == {'reg', 'imag', 'cons'}
    # phi2 only for the L_cons samples (EFT and the two 2D-only ones).
    assert plan.cons_index.tolist() == [1, 2, 3]
    assert plan.cons_phi.shape == (3, )
    assert torch.equal(plan.imag_phi, plan.phi[:, 1])
    # Only GT-3D samples: no phi2 pass at all.
    gt_only = _targets(['gt3d'] * 2, [1., 1.], [1., 1.])
    plan = routing.plan(gt_only, generator=g)
    assert set(plan.weights) == {'reg', 'imag'} and plan.cons_index is None
    # Only 2D-only samples and no silhouette head: L_cons but no L_imag.
    two_d = _targets(['2d_only'] * 2, [0., 0.], [0., 0.])
    plan = routing.plan(two_d, generator=g)
    assert set(plan.weights) == {'reg', 'cons'}
    # ... with a silhouette head, L_imag stays in the plan with zero weights
    # (the head must take part in every step under DDP).
    plan = routing.plan(two_d, silhouette=True, generator=g)
    assert plan.weights['imag']['silhouette'].tolist() == [0., 0.]
    # A neck that is not view aware: the canonical view and L_reg only.
    plan = routing.plan(TARGETS, view_aware=False)
    assert plan.phi.shape == (4, 1) and set(plan.weights) == {'reg'}
    # Everything but L_reg off.
    plan = LabelTypeRouting(enabled=('reg', )).plan(TARGETS, silhouette=True)
    assert plan.phi.shape == (4, 1) and set(plan.weights) == {'reg'}


def test_sample_angles_range():
    phi = sample_angles(4096, 2, torch.device('cpu'),
                        torch.Generator().manual_seed(0))
    assert phi.shape == (4096, 2)
    assert phi.min() >= 0 and phi.max() < 2 * math.pi
    # Uniform on [0, 2 pi): mean pi, std 2 pi / sqrt(12) (4096 draws: the
    # standard error of the mean is 0.028).
    assert abs(float(phi.mean()) - math.pi) < 0.1
    assert abs(float(phi.std()) - 2 * math.pi / math.sqrt(12)) < 0.1
