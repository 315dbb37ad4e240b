"""One entry point over the methods (for dashboards, notebooks and comparisons):
``approximate(A, rank, method)`` and ``error_curve`` (error vs rank per method against the
Eckart–Young optimum)."""

from __future__ import annotations

import time

import numpy as np

from workbench.lowrank import svd as _svd
from workbench.lowrank._checks import as_matrix, check_rank, numpy_f64
from workbench.lowrank.cur import cur, interpolative
from workbench.lowrank.nystrom import nystrom
from workbench.lowrank.results import (
    LowRankResult,
    error_ratio,
    exact_singular_values,
    optimum,
    relative_fro_error,
    spectral_norm,
)

METHODS = {
    "svd": "Truncated SVD (exact, LAPACK)",
    "randomized": "Randomized SVD (2 power iterations)",
    "krylov": "Block Krylov SVD",
    "cur_leverage": "CUR, leverage-score sampling",
    "cur_qr": "CUR, pivoted-QR selection",
    "id": "Interpolative decomposition",
    "nystrom": "Nyström (PSD kernels only)",
}

# methods whose factors are U, s, Vt ordered by s: truncation by slicing is exact for
# "svd" and a valid (slightly worse than rerunning) approximation for the others
SLICEABLE = ("svd", "randomized", "krylov", "nystrom")


def approximate(A, rank: int, method: str = "svd", *, seed: int = 0,
                compute_error: bool | str = "auto", reference_sv=None) -> LowRankResult:
    """Rank-`rank` approximation of A by `method` (a key of METHODS). Returns a
    LowRankResult."""
    kw = dict(compute_error=compute_error, reference_sv=reference_sv)
    if method == "svd":
        return _svd.truncated_svd(A, rank, **kw)
    if method == "randomized":
        return _svd.randomized_svd(A, rank, oversample=10, power_iters=2, seed=seed, **kw)
    if method == "krylov":
        return _svd.randomized_svd(A, rank, method="krylov", seed=seed, **kw)
    if method == "cur_leverage":
        return cur(A, rank, selection="leverage", seed=seed, **kw)
    if method == "cur_qr":
        return cur(A, rank, selection="qr", seed=seed, **kw)
    if method == "id":
        return interpolative(A, rank, seed=seed, **kw)
    if method == "nystrom":
        return nystrom(A, rank, seed=seed, **kw)
    raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")


def error_curve(A, ranks, methods=("svd", "randomized", "cur_leverage"), *, seed: int = 0,
                slice_svd: bool = True):
    """Relative Frobenius and spectral errors for each method at each rank, next to the
    optimum, as a pandas DataFrame (columns: method, rank, fro, spec, fro_opt, spec_opt,
    fro_ratio, seconds, compression). SVD-type methods are run once at max(ranks) and
    truncated by slicing when `slice_svd` (what a rank slider shows); the others run per
    rank. Costs one full SVD of A for the reference plus the methods."""
    import pandas as pd

    A = numpy_f64(as_matrix(A))
    ranks = sorted({check_rank(r, A.shape) for r in ranks})
    sv = exact_singular_values(A)
    normF = float(np.sqrt(np.sum(sv**2)))
    rows = []
    for method in methods:
        base = None
        if slice_svd and method in SLICEABLE:
            t0 = time.perf_counter()
            base = approximate(A, max(ranks), method, seed=seed, compute_error=False)
            base_t = time.perf_counter() - t0
        for r in ranks:
            if base is not None:
                res, secs = base.truncate(r), base_t
            else:
                res = approximate(A, r, method, seed=seed, compute_error=False)
                secs = res.seconds
            X = res.approx()
            fro = relative_fro_error(A, X, normF)
            spec = spectral_norm(A - X) / sv[0] if sv[0] > 0 else 0.0
            fo, so = optimum(sv, r)
            rows.append(dict(method=method, rank=r, fro=fro, spec=spec, fro_opt=fo,
                             spec_opt=so, fro_ratio=error_ratio(fro, fo),
                             seconds=secs, compression=res.compression_ratio))
    return pd.DataFrame(rows)
