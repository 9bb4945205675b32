# Evaluation on the 3DPW test split (mmhuman3d's preprocessed pw3d_test.npz,
# images under data/datasets/pw3d/). MeshMetric follows PARE's protocol
# (gendered GT, neutral prediction, 14 LSP joints, see its docstring); ESV
# (paper sec. 6.3) needs 360 views per sample, so it runs on the test split
# only and on the first `model.test_cfg.esv_max_samples` samples.
pw3d_ann_file = 'data/preprocessed_datasets/pw3d_test.npz'
pw3d_img_root = 'data/datasets/pw3d'
pw3d_body_model_root = 'data/body_models'

test_pipeline = [
    dict(type='mmpose.LoadImage'),
    dict(type='mmpose.GetBBoxCenterScale', padding=1.0),
    dict(type='mmpose.TopdownAffine', input_size=(224, 224)),
    dict(type='PackMeshInputs'),
]
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='HumanImageDataset',
        dataset_name='pw3d',
        # GT SMPL from 3DPW's IMU fits (its 3D joints are regressed from
        # the GT mesh). The label type routes training losses only; it is
        # declared so that the file's labels are checked when it is built.
        label_type='gt3d',
        ann_file=pw3d_ann_file,
        data_prefix=dict(img_path=pw3d_img_root),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(
        type='MeshMetric',
        body_model=dict(type='SMPL', model_path=pw3d_body_model_root)),
]
test_evaluator = [
    dict(
        type='MeshMetric',
        body_model=dict(type='SMPL', model_path=pw3d_body_model_root)),
    dict(type='ESVMetric'),
]
