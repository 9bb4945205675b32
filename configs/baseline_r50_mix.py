# Plain baseline (Table 4 "Baseline"): ImpHMR without the feature field and
# without rendering -- same backbone, attention, GAP and regressor. Only
# L_reg can run (the latent does not depend on the view).
_base_ = ['./imphmr_r50_mix.py']

model = dict(
    neck=dict(_delete_=True, type='GlobalPoolNeck', in_channels=2048,
              use_attention=True),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
