"""Shared fixtures: the embedded synthetic body model, made once per run."""
import logging

import pytest


@pytest.fixture(scope='session')
def body_model_root(tmp_path_factory):
    """Root folder of a generated synthetic body model in the official layout.

    ``<root>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl``,
    ``<root>/J_regressor_extra.npy``, ``<root>/J_regressor_h36m.npy``,
    ``<root>/smpl_mean_params.npz``.
    """
    from mmhuman_imphmr.body_models.synthetic import \
        generate_synthetic_body_model
    root = tmp_path_factory.mktemp('body_models')
    generate_synthetic_body_model(str(root))
    return str(root)


@pytest.fixture(scope='session')
def init_weights_quietly():
    """``init_weights_quietly(model)``: ``model.init_weights()`` with the
    current MMLogger at WARNING (mmengine logs one INFO block per parameter,
    hundreds of lines for a ResNet-50 estimator)."""
    from mmengine.logging import MMLogger

    def init(model):
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        return model

    return init
