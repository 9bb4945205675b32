# Baseline-PTN (sec. 4.2, supp. 6.1): the feature field replaced by a
# 4x4x4x2048 feature volume (Perspective Transformer Nets), projected with a
# max over depth; trained with the same losses as ImpHMR.
_base_ = ['./imphmr_r50_mix.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='PTNNeck',
        in_channels=2048,
        volume_size=4,  # paper: same resolution as ImpHMR's 4x4 map
        decoder_channels=(256, 128),  # assumption (paper: PTN's decoder)
        projection='perspective',
        use_attention=True,
        aggregation='dwconv'))
