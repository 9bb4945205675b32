# Table 4 ablations of the paper: training on EFT-COCO only (mmhuman3d's
# preprocessed eft_coco_all.npz, images under data/datasets/coco/).
# Same SPIN augmentation as mix_train.py (see the comments there).
# EFT pseudo-SMPL fits: label type 'pseudo_smpl', so every sample feeds
# L_reg + L_imag + L_cons (DESIGN §3; Table 4 shows both view losses help
# on COCO alone).
coco_ann_file = 'data/preprocessed_datasets/eft_coco_all.npz'
coco_img_root = 'data/datasets/coco'

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
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='HumanImageDataset',
        dataset_name='coco',
        label_type='pseudo_smpl',
        ann_file=coco_ann_file,
        data_prefix=dict(img_path=coco_img_root),
        pipeline=train_pipeline,
        **train_data_checks))
