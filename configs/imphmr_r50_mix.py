# ImpHMR, the paper's recipe (sec. 6.1): ResNet-50 from SPIN, feature field
# with a 4x4 map, L_reg + L_imag + L_cons + silhouette; trained on H36M,
# MPI-INF-3DHP, EFT COCO / MPII / LSPET; tested on 3DPW.
# Paper: 3DPW MPJPE 81.8, PA-MPJPE 49.8, PVE 96.4 (mm).
_base_ = [
    '_base_/models/imphmr_r50.py',
    '_base_/datasets/mix_train.py',
    '_base_/datasets/pw3d_test.py',
    '_base_/schedules/adam_50e.py',
    '_base_/default_runtime.py',
]

# Paper: batch 64 (total, on one GPU; with N GPUs use 64 / N per GPU or
# --auto-scale-lr).
train_dataloader = dict(batch_size=64)
