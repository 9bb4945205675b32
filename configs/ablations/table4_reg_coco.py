# Table 4 "L_reg" (w/o silhouette branch D): feature field, canonical view
# only. Every EFT-COCO sample (label_type 'pseudo_smpl') feeds L_reg only.
# Paper: 96.5 / 58.9 / 116.0.
_base_ = ['./imphmr_r50_coco.py']

model = dict(silhouette_head=None, train_cfg=dict(imag=False, cons=False))
