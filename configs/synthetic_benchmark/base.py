# Synthetic benchmark (tools/analysis/synthetic_benchmark.py): the paper's
# Table 3 / Table 4 comparisons on the embedded synthetic data, where the GT
# of every unseen view is exact. This base is the FULL model (ImpHMR with
# L_reg + L_imag + L_cons and the silhouette branch); every other config in
# this folder is a short diff over it, so the variants differ only where the
# paper's rows differ. Same data, same step budget, same seeds for all.
#
# Scale (chosen, before any ordering was looked at, by one criterion: within
# the budget the baseline's canonical PA-MPJPE falls clearly below the
# image-blind data-mean reference; see README "Synthetic benchmark"): the
# quick start's ResNet-18 at 64 x 64 crops, batch 16, Adam 3e-4 with a cosine
# decay over `benchmark_steps` iterations. Assumptions (speed on 2 CPU
# cores), not paper settings.
_base_ = [
    '../_base_/models/imphmr_r50.py',
    '../_base_/datasets/synthetic.py',
    '../_base_/default_runtime.py',
]

body_model_root = 'data/body_models_synthetic'
benchmark_steps = 600  # the tool overrides it (same value for every config)
# The paper initialises encoder and regressor from SPIN (sec. 6.1). Here the
# same: the tool first trains the plain HMR of pretrain_hmr.py for
# `pretrain_steps` on this data (seed 0, once) and every config starts from
# its backbone.* / head.* weights (the tool sets this path).
pretrain_steps = 1200
pretrained = None

# Data: a separate folder (the quick start's data has no in-the-wild share).
# Half of the training images are marked in-the-wild: their labels are
# pseudo-SMPL fits (the exact GT perturbed as fits err), exact 2D keypoints
# and no 3D joints, i.e. they behave as EFT data (label type 'pseudo_smpl':
# L_reg + L_imag + L_cons); the other half are 'gt3d' (L_reg + L_imag), as
# H36M / MPI-INF-3DHP in the paper's mix. The val split is clean 'gt3d'.
benchmark_data_root = 'data/synthetic_benchmark'
benchmark_generate_cfg = dict(
    num_train=2000,
    num_val=200,
    image_size=128,
    seed=0,
    wild_fraction=0.5,
    body_model_root=body_model_root)

model = dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    backbone=dict(depth=18),  # 512 x 2 x 2 at 64 x 64
    neck=dict(in_channels=512),
    head=dict(
        in_channels=512,
        mean_params=body_model_root + '/smpl_mean_params.npz',
        body_model=dict(model_path=body_model_root)),
    silhouette_head=dict(in_channels=512, channels=(32, ) * 4, out_size=64),
    # Evaluation: canonical + unseen views (90/180/270) on every val sample;
    # ESV over 36 azimuths (every 10 degrees; the paper: 360, every degree)
    # on the first 64 val samples. Assumption (speed on CPU): 360 views cost
    # ~100 s per evaluation here (the field runs 23k times), 36 ~10 s.
    test_cfg=dict(
        esv_angles=36,
        esv_max_samples=64,
        nv_angles=(90, 180, 270),
        nv_max_samples=None))

train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=benchmark_steps,
    val_interval=benchmark_steps + 1)  # evaluated once, by the tool's test
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-4), clip_grad=dict(max_norm=50.0))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=benchmark_steps,
        eta_min=3e-6,
        by_epoch=False)
]

# The quick start's augmentation (configs/imphmr_r18_synthetic.py).
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
_synthetic = dict(
    type='SyntheticHumanDataset',
    data_root=benchmark_data_root,
    split='train',
    generate_cfg=benchmark_generate_cfg,
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(**_synthetic, subset='studio', label_type='gt3d'),
            dict(**_synthetic, subset='wild', label_type='pseudo_smpl'),
        ]))
val_dataloader = dict(
    dataset=dict(
        data_root=benchmark_data_root, generate_cfg=benchmark_generate_cfg))
test_dataloader = val_dataloader

_metrics = [
    dict(
        type='MeshMetric',
        body_model=dict(type='SMPL', model_path=body_model_root)),
    dict(
        type='UnseenViewMetric',
        body_model=dict(type='SMPL', model_path=body_model_root)),
    dict(type='ESVMetric'),
]
val_evaluator = _metrics
test_evaluator = _metrics

default_hooks = dict(
    logger=dict(interval=25),
    # Iteration checkpoints so that a killed run resumes (the tool passes
    # --resume); the last one is the evaluated model.
    checkpoint=dict(
        by_epoch=False,
        interval=100,
        save_best=None,
        max_keep_ckpts=1,
        save_last=True))
custom_hooks = []
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
