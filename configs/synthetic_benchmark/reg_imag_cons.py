# Full ImpHMR (Table 3 / 4 last row): L_reg + L_imag (with the silhouette
# term) + L_cons. Identical to the base.
_base_ = ['./base.py']
