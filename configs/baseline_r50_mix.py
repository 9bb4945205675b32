# Baseline (paper Table 4 "Baseline"): ImpHMR without feature-field
# generation and volume rendering, same number of parameters except AGG --
# same backbone, attention, GAP and regressor, the field's MLP applied to
# z_fg alone (LatentMLPNeck; its structure is an assumption, see its
# docstring). Only L_reg can run (the latent does not depend on the view).
# The plain HMR / SPIN model is hmr_r50_mix.py.
_base_ = ['./imphmr_r50_mix.py']

model = dict(
    neck=dict(_delete_=True, type='LatentMLPNeck', in_channels=2048),
    silhouette_head=None,
    train_cfg=dict(imag=False, cons=False))
