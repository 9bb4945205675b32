"""Body models: safe SMPL file loading and the registered SMPL module."""
from .smpl import SMPL
from .smpl_file import (BODY_MODEL_TREE, BodyModelFileError,
                        InvalidBodyModelFileError, MissingBodyModelFileError,
                        body_model_files, body_model_root,
                        load_joint_regressor, load_smpl_mean_params,
                        load_smpl_model_file, safe_load_pickle,
                        smpl_model_path)
from .synthetic import (ensure_synthetic_body_model,
                        generate_synthetic_body_model)

__all__ = [
    'SMPL', 'BODY_MODEL_TREE', 'BodyModelFileError',
    'MissingBodyModelFileError', 'InvalidBodyModelFileError',
    'body_model_files', 'body_model_root', 'smpl_model_path',
    'load_smpl_model_file', 'load_joint_regressor', 'load_smpl_mean_params',
    'safe_load_pickle', 'generate_synthetic_body_model',
    'ensure_synthetic_body_model'
]
