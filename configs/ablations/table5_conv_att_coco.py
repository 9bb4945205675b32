# Table 5 (c): aggregation 'conv', foreground attention True.
# Paper: 96.0 / 58.0 / 114.6.
# Row (e) (dwconv + attention) is imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(neck=dict(aggregation='conv', use_attention=True))
