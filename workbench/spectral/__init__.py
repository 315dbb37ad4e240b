"""The spectral engine: Lanczos, extreme eigenpairs, spectral densities, trace estimators
and randomized range finders, on any ``workbench.operators`` operator (numpy or torch,
CPU or CUDA).

Cost is counted in matrix-vector products (``num_matvecs`` on every result)::

    from workbench import spectral as sp
    vals, vecs = sp.top_eigs(op, k=5)
    dens = sp.spectral_density(op, num_probes=10, num_steps=40, seed=0)
    tr = sp.trace(op, method="hutch++", num_matvecs=100)
"""

from workbench.spectral.convergence import ErrorCurve, SolverRace, race_top_eigs
from workbench.spectral.density import (
    eigenvalue_histogram,
    spectral_bounds,
    spectral_density,
    wasserstein_error,
)
from workbench.spectral.eigs import top_eigs
from workbench.spectral.lanczos import lanczos
from workbench.spectral.power import power_iteration
from workbench.spectral.randomized import (
    randomized_eigh,
    randomized_range_finder,
    randomized_svd,
)
from workbench.spectral.results import (
    DensityResult,
    EigResult,
    LanczosResult,
    RitzSteps,
    SVDResult,
    TraceResult,
)
from workbench.spectral.trace import trace

__all__ = [
    "DensityResult", "EigResult", "ErrorCurve", "LanczosResult", "RitzSteps", "SVDResult",
    "SolverRace", "TraceResult", "eigenvalue_histogram", "lanczos", "power_iteration",
    "race_top_eigs", "randomized_eigh", "randomized_range_finder", "randomized_svd",
    "spectral_bounds", "spectral_density", "top_eigs", "trace", "wasserstein_error",
]
