# Ablation base (paper sec. 4.2, Tables 3-5): the full ImpHMR trained on
# EFT-COCO only (label_type 'pseudo_smpl': L_reg + L_imag with the
# silhouette term + L_cons on every sample), tested on 3DPW. This is
# Table 4's last row and Table 5 (e) (DWConv + A).
# Paper: MPJPE 92.7, PA-MPJPE 57.0, PVE 112.1 (mm).
_base_ = [
    '../_base_/models/imphmr_r50.py',
    '../_base_/datasets/coco_train.py',
    '../_base_/datasets/pw3d_test.py',
    '../_base_/schedules/adam_50e.py',
    '../_base_/default_runtime.py',
]

# Paper: batch 64, Adam 5e-5. Assumption: the COCO phase uses the same 50
# epochs (the paper does not give its length).
train_dataloader = dict(batch_size=64)
