# The benchmark's stand-in for SPIN: the plain HMR (GlobalPoolNeck + SPIN's
# iterative regressor, L_reg) trained on the benchmark's data. The tool trains
# it once (seed 0) for `pretrain_steps` and initialises every benchmark config
# from its backbone.* / head.* weights, as the paper initialises from SPIN.
_base_ = ['./base.py']

model = dict(
    init_cfg=None,  # from scratch
    neck=dict(
        _delete_=True,
        type='GlobalPoolNeck',
        in_channels=512,
        use_attention=False),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False),
    test_cfg=dict(esv_angles=None, nv_angles=None))
test_evaluator = [
    dict(
        type='MeshMetric',
        body_model=dict(type='SMPL', model_path='data/body_models_synthetic')),
]
val_evaluator = test_evaluator
