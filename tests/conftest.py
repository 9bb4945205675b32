"""Shared fixtures: the embedded synthetic body model, generated once per run."""
import pytest


@pytest.fixture(scope='session')
def body_model_root(tmp_path_factory):
    """Root folder of a generated synthetic body model in the official layout.

    ``<root>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl``, ``<root>/J_regressor_extra.npy``,
    ``<root>/J_regressor_h36m.npy``, ``<root>/smpl_mean_params.npz``.
    """
    from mmhuman_imphmr.body_models.synthetic import \
        generate_synthetic_body_model
    root = tmp_path_factory.mktemp('body_models')
    generate_synthetic_body_model(str(root))
    return str(root)
