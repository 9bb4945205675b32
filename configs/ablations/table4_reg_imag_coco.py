# Table 4 "L_reg + L_imag" (w/o silhouette branch D). Every EFT-COCO sample
# ('pseudo_smpl') feeds L_reg and L_imag (pose and shape terms; EFT has no
# 3D joints, so L_imag's 3D-joint term is off); L_cons is switched off.
# Paper: 94.9 / 57.9 / 114.2.
_base_ = ['./imphmr_r50_coco.py']

model = dict(silhouette_head=None, train_cfg=dict(imag=True, cons=False))
