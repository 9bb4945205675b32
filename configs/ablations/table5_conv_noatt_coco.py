# Table 5 (d): aggregation 'conv', foreground attention False.
# Paper: 95.2 / 57.7 / 114.9.
# Row (e) (dwconv + attention) is imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(neck=dict(aggregation='conv', use_attention=False))
