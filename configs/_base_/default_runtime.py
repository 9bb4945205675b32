# Runtime shared by every config (mmpose 1.x layout).
default_scope = 'mmhuman_imphmr'
# Atomic checkpoint writes, weights-only loading with MMEngine's classes
# allow-listed, robust --resume
# (mmhuman_imphmr/engine/fault_tolerant_runner.py).
runner_type = 'FaultTolerantRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # The best checkpoint is the one with the lowest 3DPW PA-MPJPE (the
    # metric reports the key 'pa_mpjpe', in mm).
    checkpoint=dict(
        # CheckpointHook that saves before deleting outdated checkpoints and
        # replaces work_dir/last_checkpoint atomically.
        type='AtomicCheckpointHook',
        interval=1,
        save_best='pa_mpjpe',
        rule='less',
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Reseeds torch/numpy/random from (seed, epoch) before each epoch, so that a
# run resumed from an epoch checkpoint repeats the uninterrupted run.
# MeshVisualizationHook draws a few validation samples with the predicted
# mesh each epoch (work_dir/<time>/vis_data/vis_image). ProgressHook draws a
# bar of each training epoch when stdout is a terminal (nothing otherwise).
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='MeshVisualizationHook', max_samples=4),
    dict(type='ProgressHook'),
]

# 'nccl' is for GPUs; tools/train.py and tools/test.py switch it to 'gloo'
# when CUDA is not available. Distributed runs wrap the model in
# NonFiniteCheckDDP unless a config sets model_wrapper_cfg
# (mmhuman_imphmr/engine/launch.py), so a NaN loss is refused there too.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='MeshVisualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(
    type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

# seed=None draws a seed per run (and logs it); set e.g. seed=0 to repeat one.
randomness = dict(seed=None, deterministic=False)
