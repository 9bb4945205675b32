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
        map_size=4,  # paper: 4x4 rendered map (Tables 6/7 also 1, 2, 6)
        num_samples=32,  # paper: N_s = 32 samples per ray
        pe_octaves_points=10,  # paper
        pe_octaves_dirs=4,  # paper
        aggregation='dwconv',  # paper: one depthwise conv (Table 5 (e))
        use_attention=True),  # paper: CBAM spatial attention (Table 5 (e))
    # Not fixed by the paper: FeatureFieldNeck's defaults (DESIGN §3), i.e.
    # GIRAFFE's MLP (hidden_dim=128, num_layers=8, skip_layer=4), point and
    # direction scale 0.5, camera / depth range (constants.GIRAFFE_*), density
    # zero outside the box bound=1.1; and, an assumption, the density
    # density_activation='softplus', density_bias=-1., density_noise_std=0.
    # (GIRAFFE: 'relu', 0., 1., which renders a fresh field empty in eval).
    head=dict(
        type='SMPLRegressionHead',
        in_channels=2048,
        mean_params=body_model_root + '/smpl_mean_params.npz',
        n_iter=3,  # paper / SPIN
        body_model=dict(
            type='SMPL', model_path=body_model_root, gender='neutral'),
        focal_length=5000.,  # SPIN
        crop_size=224,  # SPIN; 2D keypoints are in [-1, 1] crop coordinates
        # One registered loss per term (a `type` swaps it). Paper sec. 6.1:
        # lambda_2d, lambda_3d, lambda_pose, lambda_shape; the camera prior
        # weight (SPIN's 1 x 60) is not in the paper. Eq. 7 (L_cons) reuses
        # lambda_pose and lambda_shape.
        losses=dict(
            keypoints2d=dict(type='Keypoint2DLoss', loss_weight=300.),
            keypoints3d=dict(type='Keypoint3DLoss', loss_weight=300.),
            pose=dict(type='PoseLoss', loss_weight=60.),
            # SPIN: a fit with any |beta| > 3 gets zero target betas.
            betas=dict(
                type='BetasLoss',
                loss_weight=0.06,
                max_abs_betas=3.,
                outliers='zero'),
            cam=dict(type='CameraPriorLoss', loss_weight=60.),
            # Assumption (paper silent): gradients flow through both views.
            consistency=dict(
                type='ViewConsistencyLoss',
                pose_weight=60.,
                betas_weight=0.06,
                stop_gradient=None))),
    silhouette_head=dict(
        type='SilhouetteHead',
        in_channels=2048,
        # Assumption: the paper fixes 5 deconv+BN+ReLU layers, not widths;
        # halving with each doubling keeps the branch cheap (see the head).
        channels=(256, 128, 64, 32, 16),
        input_size=4,
        out_size=128,  # paper: 128x128 silhouette
        loss=dict(type='SilhouetteLoss', loss_weight=30.),  # lambda_silh
        # Targets: the GT mesh turned by -phi, rendered by this rasterizer
        # (paper: NMR; 'PyTorch3DRasterizer' where pytorch3d is installed).
        rasterizer=dict(type='MeshRasterizer')),
    train_cfg=dict(
        imag=True,  # L_imag (eq. 6)
        cons=True,  # L_cons (eq. 7)
        # Which samples feed which loss, by the label_type each dataset
        # config declares (paper sec. 3.4 / 4, DESIGN §3):
        #   gt3d (H36M, MPI-INF-3DHP with SMPL) -> L_reg + L_imag
        #   pseudo_smpl (EFT COCO / MPII / LSPET) -> L_reg + L_imag + L_cons
        #   2d_only -> L_reg + L_cons
        # Inside a loss each term is masked by its label (3D joints by
        # has_kp3d, pose / betas / silhouette by has_smpl). Assumption: on
        # EFT samples, which have no 3D joints, L_imag's 3D-joint term is
        # off (no joints are made from the pseudo-GT mesh).
        routing=dict(
            type='LabelTypeRouting',
            terms=dict(
                reg=('keypoints2d', 'keypoints3d', 'pose', 'betas', 'cam'),
                # eq. 6 has no 2D term; the silhouette term is added when
                # the model has a silhouette head.
                imag=('keypoints3d', 'pose', 'betas'),
                cons=('pose', 'betas')))),
    test_cfg=dict(esv_angles=None, esv_max_samples=None, view_chunk=60),
)
