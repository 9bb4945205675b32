# Training data of the paper (sec. 6.1): Human3.6M, MPI-INF-3DHP and the EFT
# pseudo-SMPL fits of COCO, MPII and LSPET, mixed with PARE's ratios
# (mmhuman3d configs/pare/hrnet_w32_conv_pare_mix*.py). Files are the
# preprocessed HumanData .npz of mmhuman3d (DESIGN §5); images under
# data/datasets/<name>/ as in mmhuman3d.
mix_ann_root = 'data/preprocessed_datasets'
mix_img_root = 'data/datasets'

# Augmentation of SPIN (DESIGN §4) with mmpose's transforms:
# * bbox: the stored boxes are SPIN's center/scale*200 squares, which already
#   include SPIN's 1.2 expansion (mmhuman3d's EFT converter writes exactly
#   those), hence padding=1.0.
# * flip p=0.5 on the full image, before the box transform and the rotation.
# * scale: mmpose draws N(1, 0.25) truncated to [0.75, 1.25] (std 0.135);
#   SPIN clips N(1, 0.25) to the same range (std 0.180, 32% at the bounds).
# * rotation: mmpose draws N(0, 60) truncated to +-60 deg (std 32.4) with
#   p=0.4; SPIN clips N(0, 30) to +-60 (std 28.8) with p=0.4. mmpose cannot
#   express SPIN's exact law; this keeps its range and probability.
# * no shift (SPIN has none); per-channel pixel noise U[0.6, 1.4].
train_pipeline = [
    dict(type='mmpose.LoadImage'),
    dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
    dict(type='RandomFlipSMPL', prob=0.5),
    dict(
        type='mmpose.RandomBBoxTransform',
        shift_prob=0.0,
        scale_factor=(0.75, 1.25),
        scale_prob=1.0,
        rotate_factor=60.0,
        rotate_prob=0.4),
    dict(type='RotateSMPL'),
    dict(type='mmpose.TopdownAffine', input_size=(224, 224)),
    dict(type='RandomPixelNoise', low=0.6, high=1.4),
    dict(type='PackMeshInputs'),
]

# Label types (DESIGN §3) decide which losses a dataset's samples feed:
# * 'gt3d' (Human3.6M with MoSh SMPL, MPI-INF-3DHP with SPIN's static fits):
#   L_reg + L_imag.
# * 'pseudo_smpl' (EFT fits of COCO, LSPET, MPII): L_reg + L_imag + L_cons.
# (A '2d_only' set would feed L_reg + L_cons.) Inside each loss every term
# stays masked by the sample's own labels (has_smpl, has_kp3d, confidences).
# The 3D files must carry SMPL: mmhuman3d's h36m_train.npz and
# mpi_inf_3dhp_train.npz do not, and with them L_imag's pose/shape terms and
# L_reg's theta/beta terms never run on 70% of every batch (the dataset
# warns). h36m_mosh_train.npz is what mmhuman3d's H36mConverter writes when
# given the MoSh data (mosh_dir; not redistributable), as mmhuman3d's HMR,
# SPIN and PARE configs train on; spin_mpi_inf_3dhp_train.npz is SPIN's
# file with its static fits, as mmhuman3d's SPIN config uses. See
# docs/data_preparation.md.
# (name, file, image folder, label type, PARE's share of every batch)
mix_datasets = [
    ('h36m', 'h36m_mosh_train.npz', 'h36m', 'gt3d', 0.5),
    ('coco', 'eft_coco_all.npz', 'coco', 'pseudo_smpl', 0.233),
    ('lspet', 'eft_lspet.npz', 'lspet', 'pseudo_smpl', 0.046),
    ('mpii', 'eft_mpii.npz', 'mpii', 'pseudo_smpl', 0.021),
    ('mpi_inf_3dhp', 'spin_mpi_inf_3dhp_train.npz', 'mpi_inf_3dhp', 'gt3d',
     0.2),
]
# Bad data is found when the dataset is built, not at whatever iteration
# draws it: every image is checked (exists, not empty, image signature; ~1
# open per file, a progress bar and a summary for large files), boxes below 1
# pixel are reported with their indices, and such samples are skipped (with
# counts by reason in the log). A run stops when more than 10% of a file's
# samples are unusable: its data is mostly broken.
train_data_checks = dict(
    check_images=True,
    on_missing_image='skip',
    on_bad_bbox='skip',
    max_bad_fraction=0.1)
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(
        type='MixDatasetSampler',
        partition=[m[4] for m in mix_datasets],
        # Assumption: epoch length of mmhuman3d's SPIN recipe (num_data).
        num_samples=100000),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type='HumanImageDataset',
                dataset_name=name,
                label_type=label_type,
                ann_file=f'{mix_ann_root}/{ann}',
                data_prefix=dict(img_path=f'{mix_img_root}/{folder}'),
                pipeline=train_pipeline,
                **train_data_checks)
            for name, ann, folder, label_type, _ in mix_datasets
        ]))
