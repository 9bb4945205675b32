# CPU quick start: ImpHMR with a ResNet-18 from scratch on the embedded
# synthetic data (rendered crops of the synthetic SMPL-format body), small
# crops, a short schedule, validation every epoch. Not a paper setting: every
# number here is chosen for a ~10 minute run on 2 CPU cores.
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
    backbone=dict(depth=18),  # 512 x 4 x 4 at 128 x 128
    neck=dict(in_channels=512),
    head=dict(
        in_channels=512,
        mean_params=body_model_root + '/smpl_mean_params.npz',
        body_model=dict(model_path=body_model_root)),
    # Assumption (speed): a 32-wide decoder instead of 256.
    silhouette_head=dict(in_channels=512, channels=(32, ) * 5))

# Assumption (speed on CPU): short schedule, higher lr than the paper's 5e-5.
train_cfg = dict(max_epochs=5, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
train_dataloader = dict(batch_size=16)

default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
