# Table 5 (a): aggregation 'gap', foreground attention True.
# Paper: 95.3 / 57.6 / 114.5.
# Row (e) (dwconv + attention) is imphmr_r50_coco.py.
_base_ = ['./imphmr_r50_coco.py']

model = dict(neck=dict(aggregation='gap', use_attention=True))
