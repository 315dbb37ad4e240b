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
    """Errors of k eigenvalue estimates after each product of one solver.

    matvecs (t,); errors (t, k): |theta_i - lambda_i| / |lambda_1| for each wanted
    eigenvalue, 1 for an eigenvalue not estimated yet; error (t,): their maximum.
    num_matvecs, converged, seconds, values: of the whole run.
    """

    method: str
    matvecs: np.ndarray
    errors: np.ndarray
    num_matvecs: int
    converged: bool
    seconds: float
    values: np.ndarray

    @property
    def error(self) -> np.ndarray:
        """max_i error_i after each product (t,)."""
        return self.errors.max(axis=1) if self.errors.size else np.zeros(0)

    def found(self, tol: float) -> np.ndarray:
        """How many of the k estimates are within `tol` (relative to |lambda_1|) after
        each product (t,)."""
        return (self.errors <= tol).sum(axis=1)

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
    """(matvecs (t,), errors (t, k)) from an EigResult.history ((matvecs, values,
    residuals) entries) against the exact wanted eigenvalues, in the order the solver
    reports them: errors[t, i] = |theta_i - lambda_i| / scale (default |lambda_1|), capped
    at 1, and 1 for estimates missing at that point. Cost O(len(history) k)."""
    exact = np.asarray(exact, dtype=np.float64)
    k = len(exact)
    scale = float(np.max(np.abs(exact))) if scale is None else float(scale)
    scale = scale if scale > 0 else 1.0
    mv = np.zeros(len(history), dtype=int)
    err = np.ones((len(history), k))
    for t, (m, vals, _res) in enumerate(history):
        mv[t] = m
        v = np.asarray(vals, dtype=np.float64)[:k]
        err[t, : len(v)] = np.minimum(np.abs(v - exact[: len(v)]) / scale, 1.0)
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
    return ErrorCurve(method=name, matvecs=mv, errors=err, num_matvecs=int(res.num_matvecs),
                      converged=bool(res.converged), seconds=seconds,
                      values=np.asarray(res.values))
