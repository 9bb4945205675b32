"""Registries of mmhuman_imphmr, children of MMEngine's root registries.

Follows ``mmpose/registry.py``: one child registry per kind of component this
package provides, each with the package location MMEngine imports when a config
with ``default_scope='mmhuman_imphmr'`` asks for one of its types. Parts of
mmpose (e.g. its data transforms) are referred to as ``mmpose.LoadImage``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    locations=[
        'mmhuman_imphmr.models', 'mmhuman_imphmr.body_models',
        'mmhuman_imphmr.renderer'
    ])
# Non-module helpers of the models (mmdet's TASK_UTILS): the loss routing.
TASK_UTILS = Registry(
    'task util',
    parent=MMENGINE_TASK_UTILS,
    locations=['mmhuman_imphmr.models'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmhuman_imphmr.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    locations=['mmhuman_imphmr.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    locations=['mmhuman_imphmr.datasets.transforms'])
METRICS = Registry(
    'metric',
    parent=MMENGINE_METRICS,
    locations=['mmhuman_imphmr.evaluation.metrics'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['mmhuman_imphmr.engine.hooks'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMENGINE_VISUALIZERS,
    locations=['mmhuman_imphmr.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMENGINE_VISBACKENDS,
    locations=['mmhuman_imphmr.visualization'])

# Children of the registries the MMEngine runner builds from (as mmpose
# defines them): with default_scope='mmhuman_imphmr' MMEngine looks for a
# child of this scope in each; without one it falls back to the root with a
# "Failed to search registry with scope" warning per registry. This package
# registers nothing of its own in most of them (its runner and model wrapper
# live in MMEngine's roots, found through the parent); OPTIM_WRAPPERS holds
# its AmpOptimWrapper.
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS)
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS)
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS)
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS)
# AmpOptimWrapper (bf16 on the CPU as well) is this package's own.
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['mmhuman_imphmr.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS)
