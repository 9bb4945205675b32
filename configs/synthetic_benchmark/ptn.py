# Table 4 "PTN": an explicit voxel feature volume instead of the implicit
# field, with the same losses as the full model (as configs/ptn_r50_mix.py).
_base_ = ['./base.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='PTNNeck',
        in_channels=512,
        volume_size=4,  # same resolution as ImpHMR's 4 x 4 map
        decoder_channels=(256, 128),
        projection='perspective',
        use_attention=True,
        aggregation='dwconv'))
