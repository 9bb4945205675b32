"""Registries of mmhuman_imphmr, children of MMEngine's root registries.

Follows ``mmpose/registry.py``: one child registry per kind of component this
package provides, each with the package location MMEngine imports when a config
with ``default_scope='mmhuman_imphmr'`` asks for one of its types. Parts of
mmpose (e.g. its data transforms) are referred to as ``mmpose.LoadImage``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['mmhuman_imphmr.models',
                                                'mmhuman_imphmr.body_models',
                                                'mmhuman_imphmr.renderer'])
# Non-module helpers of the models (mmdet's TASK_UTILS): the loss routing.
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS,
    locations=['mmhuman_imphmr.models'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS,
    locations=['mmhuman_imphmr.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS,
    locations=['mmhuman_imphmr.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS,
    locations=['mmhuman_imphmr.datasets.transforms'])
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS,
    locations=['mmhuman_imphmr.evaluation.metrics'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['mmhuman_imphmr.engine.hooks'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS,
    locations=['mmhuman_imphmr.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS,
    locations=['mmhuman_imphmr.visualization'])
