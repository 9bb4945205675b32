# Table 5 (b): aggregation 'gap', foreground attention False.
# Paper: 95.8 / 57.9 / 114.9.
# Row (e) (dwconv + attention) is imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(neck=dict(aggregation='gap', use_attention=False))
