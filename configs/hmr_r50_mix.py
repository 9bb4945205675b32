# Plain HMR (Kanazawa et al. 2018) as SPIN trains it: ResNet-50 -> GAP ->
# SPIN's iterative regressor, no attention, no field, no silhouette branch,
# only L_reg. Initialised from SPIN's converted checkpoint it is SPIN's
# network exactly (tests/test_tools/test_convert_spin_checkpoint.py), so
# fine-tuning starts where SPIN ends; the parameter-matched Table 4 baseline
# is baseline_r50_mix.py.
_base_ = ['./imphmr_r50_mix.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='GlobalPoolNeck',
        in_channels=2048,
        use_attention=False),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
