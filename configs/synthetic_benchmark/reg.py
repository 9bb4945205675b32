# ImpHMR trained with L_reg only (Table 3 row 1): the field is only ever
# rendered from phi = 0, so nothing teaches it other views.
_base_ = ['./base.py']

model = dict(silhouette_head=None, train_cfg=dict(imag=False, cons=False))
