# Table 4 "Baseline": no feature field, no rendering (GlobalPoolNeck), L_reg.
# Paper: 101.6 / 58.3 / 117.2.
_base_ = ['./imphmr_r50_coco.py']

model = dict(
    neck=dict(_delete_=True, type='GlobalPoolNeck', in_channels=2048,
              use_attention=True),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
