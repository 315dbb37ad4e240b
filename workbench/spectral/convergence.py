"""How fast eigenvalue estimates converge, measured against known eigenvalues: for teaching
(the playground's "top_eigs vs power iteration" plot) and benchmarks.

``error_history(result, exact)`` turns the ``history`` of an EigResult (top_eigs or
power_iteration) into (matvecs, error) curves; ``race_top_eigs(op, exact, k)`` runs both
solvers to the same stopping rule and returns their curves side by side.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from workbench.errors import ConvergenceWarning
from workbench.spectral._checks import check_rank, select


@dataclass(frozen=True)
class ErrorCurve:
    """Error of k eigenvalue estimates after each product of one solver.

    matvecs (t,), error (t,): max_i |theta_i - lambda_i| / |lambda_1| over the k wanted
    eigenvalues, counting an eigenvalue not estimated yet as error 1. num_matvecs,
    converged, seconds: of the whole run. matvecs_to(tol) reads off when the error first
    fell to tol.
    """

    method: str
    matvecs: np.ndarray
    error: np.ndarray
    num_matvecs: int
    converged: bool
    seconds: float
    values: np.ndarray

    def matvecs_to(self, tol: float) -> int | None:
        """Products until every one of the k estimates was within `tol` (relative to
        |lambda_1|) and stayed there, or None if that never happened."""
        bad = np.flatnonzero(self.error > tol)
        if len(bad) == len(self.error):
            return None
        if len(bad) == 0:
            return int(self.matvecs[0])
        if bad[-1] + 1 >= len(self.error):
            return None
        return int(self.matvecs[bad[-1] + 1])


@dataclass(frozen=True)
class SolverRace:
    """Both solvers on one operator: curves {method: ErrorCurve}, k, which, tol, and the
    exact wanted eigenvalues."""

    curves: dict
    k: int
    which: str
    tol: float
    exact: np.ndarray


def error_history(history, exact: np.ndarray, scale: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(matvecs, error) from an EigResult.history ((matvecs, values, residuals) entries)
    against the exact wanted eigenvalues, in the order the solver reports them. error =
    max_i |theta_i - lambda_i| / scale (default |lambda_1|), 1 for missing estimates.
    Cost O(len(history) k)."""
    exact = np.asarray(exact, dtype=np.float64)
    k = len(exact)
    scale = float(np.max(np.abs(exact))) if scale is None else float(scale)
    scale = scale if scale > 0 else 1.0
    mv = np.zeros(len(history), dtype=int)
    err = np.ones(len(history))
    for t, (m, vals, _res) in enumerate(history):
        mv[t] = m
        v = np.asarray(vals, dtype=np.float64)[:k]
        e = np.ones(k)
        e[: len(v)] = np.minimum(np.abs(v - exact[: len(v)]) / scale, 1.0)
        err[t] = e.max()
    return mv, err


def race_top_eigs(op, exact_eigenvalues, k: int = 5, tol: float = 1e-6,
                  seed: int | None = 0, max_matvecs: int = 3000) -> SolverRace:
    """top_eigs (thick-restart Lanczos) and power iteration with deflation (PyHessian's
    method) on the k largest-magnitude eigenvalues of `op`, both stopping at
    ||A v - theta v|| <= tol |lambda_1| or after about `max_matvecs` products.

    Returns SolverRace with an ErrorCurve per method ("top_eigs", "power iteration").
    Cost: the two runs (power iteration is capped at max_matvecs products).
    """
    from workbench.spectral.eigs import top_eigs
    from workbench.spectral.power import power_iteration

    lam = np.asarray(exact_eigenvalues, dtype=np.float64).ravel()
    k = check_rank(k, len(lam))
    exact = lam[select(lam, k, "LM")]
    curves = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # a budget run out is reported by `converged`
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = top_eigs(op, k=k, which="LM", tol=tol, seed=seed, max_matvecs=max_matvecs)
    curves["top_eigs"] = _curve("top_eigs", ours, exact, time.perf_counter() - t0)
    t0 = time.perf_counter()
    base = power_iteration(op, k=k, residual_tol=tol, max_iter=max(1, max_matvecs // k),
                           seed=seed)
    curves["power iteration"] = _curve("power iteration", base, exact,
                                       time.perf_counter() - t0)
    return SolverRace(curves=curves, k=k, which="LM", tol=float(tol), exact=exact)


def _curve(name, res, exact, seconds) -> ErrorCurve:
    mv, err = error_history(res.history, exact)
    return ErrorCurve(method=name, matvecs=mv, error=err, num_matvecs=int(res.num_matvecs),
                      converged=bool(res.converged), seconds=seconds,
                      values=np.asarray(res.values))
