# ImpHMR with L_reg + L_imag (Table 3 row 2): no L_cons.
_base_ = ['./base.py']

model = dict(train_cfg=dict(cons=False))
