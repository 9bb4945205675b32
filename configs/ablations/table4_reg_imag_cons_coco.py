# Table 4 "L_reg + L_imag + L_cons" (w/o silhouette branch D). Every EFT-COCO
# sample ('pseudo_smpl') feeds all three losses (DESIGN §3: Table 4 gains
# from L_imag and from L_cons on COCO alone).
# Paper: 93.5 / 57.5 / 113.1. With the branch: imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(silhouette_head=None, train_cfg=dict(imag=True, cons=True))
