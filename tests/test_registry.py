"""Every MMEngine registry the runner builds from has a child of this scope.

Without one, MMEngine falls back to the root registry and logs "Failed to
search registry with scope ..." once per registry on every run (seven lines
before training starts). The check is the one MMEngine makes: under
``default_scope='mmhuman_imphmr'`` each root switches to a registry of that
scope.
"""
import pytest
from mmengine import registry as mmengine_registry
from mmengine.registry import DefaultScope

import mmhuman_imphmr.registry as ours

ROOTS = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'LOG_PROCESSORS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'MODELS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'VISUALIZERS',
    'VISBACKENDS', 'TASK_UTILS'
]


@pytest.mark.parametrize('name', ROOTS)
def test_root_registry_switches_to_our_child(name):
    root = getattr(mmengine_registry, name)
    with DefaultScope.overwrite_default_scope('mmhuman_imphmr'):
        with root.switch_scope_and_registry(None) as found:
            assert found.scope == 'mmhuman_imphmr', name
            assert found is getattr(ours, name)
    # Things registered in MMEngine's root (e.g. the fault-tolerant runner,
    # mmengine's loops) are still found through the parent.
    assert getattr(ours, name).parent is root


def test_project_runner_and_wrapper_are_found_in_scope():
    import mmhuman_imphmr.engine  # noqa: F401 (registers them)
    with DefaultScope.overwrite_default_scope('mmhuman_imphmr'):
        assert ours.RUNNERS.get('FaultTolerantRunner') is not None
        assert ours.MODEL_WRAPPERS.get('NonFiniteCheckDDP') is not None
        assert ours.LOOPS.get('EpochBasedTrainLoop') is not None
