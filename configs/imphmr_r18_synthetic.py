# CPU quick start: ImpHMR with a ResNet-18 from scratch on the embedded
# synthetic data (rendered crops of the synthetic SMPL-format body), small
# crops, a short schedule, validation every epoch. Not a paper setting: every
# number marked 'Assumption' is chosen for a ~10 minute run on 2 CPU cores.
_base_ = [
    '_base_/models/imphmr_r50.py',
    '_base_/datasets/synthetic.py',
    '_base_/schedules/adam_50e.py',
    '_base_/default_runtime.py',
]

# Generated on first use by tools/quick_start.py
# (mmhuman_imphmr.body_models.synthetic.ensure_synthetic_body_model).
body_model_root = 'data/body_models_synthetic'

model = dict(
    init_cfg=None,  # no SPIN checkpoint: trained from scratch
    backbone=dict(depth=18),  # 512 x 2 x 2 at 64 x 64
    neck=dict(in_channels=512),
    head=dict(
        in_channels=512,
        mean_params=body_model_root + '/smpl_mean_params.npz',
        body_model=dict(model_path=body_model_root)),
    # The paper's loss weights (from the base config) are kept. Assumption
    # (speed on CPU): a narrow decoder to a 64 x 64 silhouette (the paper's
    # is 128 x 128; at 128 the silhouette branch was half of a CPU step).
    silhouette_head=dict(in_channels=512, channels=(32, ) * 4, out_size=64))

# Assumption (speed on CPU): a short schedule, lr 3e-4 (the paper's 5e-5 is
# for a SPIN-initialised R50) with a cosine decay, gradient clipping. Measured
# with this data: Adam at lr 1e-3 from scratch left ~97% of the last ResNet
# stage's activations dead (validation flat from epoch 1; the regressor saw a
# constant latent and predicted the mean pose for every image); at 3e-4 with
# clipping the backbone stays alive and the error falls every epoch.
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-4), clip_grad=dict(max_norm=50.0))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=3e-6,
        by_epoch=True,
        convert_to_iter_based=True)
]

# Assumption (speed on CPU): the synthetic crops (64 x 64, see the dataset
# config) already vary in yaw, tilt, scale and offset; of SPIN's augmentation
# keep flip, a mild scale jitter and pixel noise, and drop the in-plane
# rotation for this short run.
train_pipeline = [
    dict(type='mmpose.LoadImage'),
    dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
    dict(type='RandomFlipSMPL', prob=0.5),
    dict(
        type='mmpose.RandomBBoxTransform',
        shift_prob=0.0,
        scale_factor=(0.9, 1.1),
        scale_prob=1.0,
        rotate_prob=0.0),
    dict(type='RotateSMPL'),
    dict(
        type='mmpose.TopdownAffine',
        input_size=({{_base_.synthetic_input_size}}, ) * 2),
    dict(type='RandomPixelNoise', low=0.6, high=1.4),
    dict(type='PackMeshInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))

default_hooks = dict(logger=dict(interval=10))
# The untrained model is validated first, so the curve starts at epoch 0.
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='ValidateBeforeTrainHook'),
    dict(type='MeshVisualizationHook', max_samples=4),
    dict(type='ProgressHook'),
]
randomness = dict(seed=0)
