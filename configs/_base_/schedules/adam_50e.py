# The paper's schedule (sec. 6.1): Adam, lr 5e-5, batch 64, 50 epochs. The
# batch size lives in the dataloader (set by the top-level config).
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# fused=True: one kernel for the whole Adam update instead of a loop over the
# parameters (same update up to float rounding); on the CPU it needs
# torch >= 2.4. Measured: 213 -> 44 ms per step for ImpHMR's 37 M parameters
# (AMD EPYC, 1 thread). Set fused=False on older torch.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-5, fused=True))
# Assumption (paper silent): constant learning rate, as SPIN trains.
param_scheduler = []

# lr 5e-5 is for a total batch of 64; `tools/train.py --auto-scale-lr`
# rescales it linearly for another total batch.
auto_scale_lr = dict(base_batch_size=64, enable=False)
