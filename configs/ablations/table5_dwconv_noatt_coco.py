# Table 5 (f): aggregation 'dwconv', foreground attention False.
# Paper: 94.7 / 57.9 / 113.8.
# Row (e) (dwconv + attention) is imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(neck=dict(aggregation='dwconv', use_attention=False))
