# Table 4 "Baseline": no feature field, no rendering, parameters matched to
# ImpHMR except AGG (LatentMLPNeck, see baseline_r50_mix.py), L_reg.
# Paper: 101.6 / 58.3 / 117.2.
_base_ = ['./imphmr_r50_coco.py']

model = dict(
    neck=dict(_delete_=True, type='LatentMLPNeck', in_channels=2048),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
