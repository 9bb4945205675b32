# ImpHMR (CVPR 2023), the paper's architecture (sec. 3, 6.1; DESIGN §2-§3).
# Paths of licensed files (never shipped, see README "body models"):
body_model_root = 'data/body_models'
# SPIN's released model_checkpoint.pt converted with
#   python tools/convert_spin_checkpoint.py <spin model_checkpoint.pt> \
#       data/pretrained/spin_converted.pth
# (keys backbone.* and head.*). Set `model = dict(init_cfg=None)` in a config,
# or pass `--cfg-options model.init_cfg=None`, to train from scratch.
spin_checkpoint = 'data/pretrained/spin_converted.pth'

model = dict(
    type='ImpHMR',
    # ImageNet mean/std in RGB; images are loaded as BGR.
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    # Encoder and regressor initialised from SPIN (paper sec. 6.1).
    init_cfg=dict(type='Pretrained', checkpoint=spin_checkpoint),
    backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
    neck=dict(
        type='FeatureFieldNeck',
        in_channels=2048,  # paper: z_fg and field features are 2048-d
        map_size=4,  # paper: 4x4 rendered map (Table 6 also 1, 2, 6)
        num_samples=32,  # paper: N_s = 32 samples per ray
        pe_octaves_points=10,  # paper
        pe_octaves_dirs=4,  # paper
        aggregation='dwconv',  # paper: one depthwise conv (Table 5 (e))
        use_attention=True,  # paper: CBAM spatial attention (Table 5 (e))
        # Not fixed by the paper, GIRAFFE's values (DESIGN §3):
        hidden_dim=128,
        num_layers=8,
        skip_layer=4,
        point_scale=0.5,
        near=0.5,
        far=6.0,
        camera_radius=2.732,
        fov=49.13,
        density_noise_std=1.0),
    head=dict(
        type='SMPLRegressionHead',
        in_channels=2048,
        mean_params=body_model_root + '/smpl_mean_params.npz',
        n_iter=3,  # paper / SPIN
        body_model=dict(
            type='SMPL', model_path=body_model_root, gender='neutral'),
        focal_length=5000.,  # SPIN
        crop_size=224,  # SPIN; 2D keypoints are in [-1, 1] crop coordinates
        # Paper sec. 6.1: lambda_2d, lambda_3d, lambda_pose, lambda_shape;
        # the camera prior weight (SPIN's 1 x 60) is not in the paper.
        loss_weights=dict(
            keypoints2d=300., keypoints3d=300., pose=60., betas=0.06,
            cam=60.),
        max_abs_betas=3.),  # SPIN: drop pseudo-GT betas with |beta| > 3
    silhouette_head=dict(
        type='SilhouetteHead',
        in_channels=2048,
        # Assumption: the paper fixes 5 deconv+BN+ReLU layers, not widths;
        # halving with each doubling keeps the branch cheap (see the head).
        channels=(256, 128, 64, 32, 16),
        input_size=4,
        out_size=128,  # paper: 128x128 silhouette
        loss_weight=30.),  # paper: lambda_silh
    train_cfg=dict(
        imag=True,  # L_imag on samples with SMPL labels (EFT fits count)
        cons=True,  # L_cons on samples without SMPL labels
        reg_terms=('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam'),
        # eq. 6 has no 2D term (and the silhouette term is added when the
        # model has a silhouette head).
        imag_terms=('keypoints3d', 'pose', 'betas'),
        cons_stop_gradient=None),  # assumption: both views get gradients
    test_cfg=dict(esv_angles=None, esv_max_samples=None, view_chunk=60),
)
