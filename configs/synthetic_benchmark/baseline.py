# Table 4 "Baseline": the parameter-matched network without feature field or
# rendering (LatentMLPNeck), L_reg only (it is not view aware).
_base_ = ['./base.py']

model = dict(
    neck=dict(_delete_=True, type='LatentMLPNeck', in_channels=512),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
