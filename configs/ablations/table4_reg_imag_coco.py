# Table 4 "L_reg + L_imag" (w/o silhouette branch D).
# Paper: 94.9 / 57.9 / 114.2.
_base_ = ['./imphmr_r50_coco.py']

model = dict(silhouette_head=None, train_cfg=dict(imag=True, cons=False))
