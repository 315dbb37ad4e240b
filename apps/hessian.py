"""Hessian spectra — train a small network and watch its loss curvature: density with outliers, top eigenvalues, trace, sharpness vs 2/eta, Hessian vs Gauss-Newton vs Fisher."""

from workbench.serve.app import serve
from workbench.ui.hessian import HessianExplorer

serve(HessianExplorer)
