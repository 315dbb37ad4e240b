"""Stochastic trace estimators: Hutchinson, Hutch++ and XTrace, each with a standard error.

- Hutchinson (Girard 1989, Hutchinson 1990): mean of z^T A z over Rademacher z. Variance
  2 ||A||_F^2 (minus the diagonal) per probe.
- Hutch++ (Meyer, Musco, Musco & Woodruff 2021): a third of the products sketch the top of
  the range (Q = orth(A S)), whose trace tr(Q^T A Q) is taken exactly; Hutchinson on the
  deflated remainder (I - QQ^T) A (I - QQ^T) does the rest. Error ~ 1/m instead of
  1/sqrt(m) for matrices with decaying spectra.
- XTrace (Epperly, Tropp & Webber 2024): uses every probe both to build the low-rank part
  and to estimate the remainder, leaving one out at a time; the m/2 leave-one-out
  estimates are exchangeable, so their spread gives an honest error estimate.
"""

from __future__ import annotations

import time

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import RankError, WorkbenchError
from workbench.spectral._checks import as_square_operator
from workbench.spectral.results import TraceResult

METHODS = ("hutchinson", "hutch++", "xtrace")
_CHUNK = 64  # probes applied per block (bounds memory at n x 64)


def block_limit(op) -> int:
    """Columns per product: _CHUNK, or fewer when the operator has a memory plan
    (``op.plan.vector_chunk``, e.g. a curvature operator's), so an estimator's blocks stay
    inside the operator's budget whatever num_matvecs is."""
    plan = getattr(op, "plan", None)
    chunk = getattr(plan, "vector_chunk", None)
    return max(1, min(_CHUNK, int(chunk))) if chunk else _CHUNK


def _apply_chunked(op, Z):
    step = block_limit(op)
    if Z.shape[1] <= step:
        return op.matmat(Z)
    return ba.concat([op.matmat(Z[:, i:i + step]) for i in range(0, Z.shape[1], step)])


def _colsum(X, Y) -> np.ndarray:
    """Column-wise inner products x_i^T y_i as numpy float64."""
    return ba.to_numpy((X * Y).sum(axis=0)).astype(np.float64)


def _mean_se(samples: np.ndarray) -> tuple[float, float]:
    m = len(samples)
    est = float(np.mean(samples))
    se = float(np.std(samples, ddof=1) / np.sqrt(m)) if m > 1 else float("inf")
    return est, se


def trace(op, method: str = "hutch++", num_matvecs: int = 100, seed: int | None = 0,
          dist: str = "rademacher") -> TraceResult:
    """Estimate tr(A) of a square operator from `num_matvecs` products.

    Parameters
    ----------
    method : "hutchinson", "hutch++" (default) or "xtrace".
    num_matvecs : total products. Hutchinson needs >= 2; Hutch++ >= 4 (m//3 sketch, m//3
        exact, the rest Hutchinson); XTrace >= 4 (uses 2 * (m // 2)).
    dist : probe distribution, "rademacher" (default) or "gaussian".

    Returns
    -------
    TraceResult: estimate, std_error (standard deviation of the estimate, estimated from
    the spread of the per-probe estimates: Hutchinson's sample std / sqrt(m); for Hutch++
    that of its Hutchinson part, the low-rank part being exact given the sketch; for
    XTrace that of the exchangeable leave-one-out estimates), num_matvecs, seconds, and
    the per-probe `samples`. ``float(result)`` is the estimate.

    Cost: num_matvecs products (at most), plus O(n m^2) flops for Hutch++/XTrace's QR.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "trace")
    if method not in METHODS:
        raise WorkbenchError(f"method={method!r} is not one of {METHODS}")
    need = 2 if method == "hutchinson" else 4
    if isinstance(num_matvecs, bool) or not isinstance(num_matvecs, int | np.integer) \
            or num_matvecs < need:
        raise RankError(f"{method} needs num_matvecs >= {need}, got {num_matvecs!r}")
    num_matvecs = int(num_matvecs)
    rng = np.random.default_rng(seed)
    before = op.num_matvecs
    if method == "hutchinson":
        samples = _hutchinson(op, num_matvecs, rng, dist)
    elif method == "hutch++":
        samples = _hutchpp(op, num_matvecs, rng, dist)
    else:
        samples = _xtrace(op, num_matvecs, rng, dist)
    est, se = _mean_se(samples)
    return TraceResult(estimate=est, std_error=se, num_matvecs=op.num_matvecs - before,
                       seconds=time.perf_counter() - t0, method=method, seed=seed,
                       samples=samples)


def _hutchinson(op, m, rng, dist):
    Z = op.random_block(m, rng, dist=dist)
    return _colsum(Z, _apply_chunked(op, Z))


def _hutchpp(op, m, rng, dist):
    n = op.shape[0]
    k = min(m // 3, n)
    ell = m - 2 * k
    S = op.random_block(k, rng, dist=dist)
    G = op.random_block(ell, rng, dist=dist)
    Q, _ = ba.qr(_apply_chunked(op, S))
    t_low = float(np.sum(_colsum(Q, _apply_chunked(op, Q))))
    Gp = G - Q @ (Q.T @ G)
    return t_low + _colsum(Gp, _apply_chunked(op, Gp))


def _xtrace(op, m, rng, dist):
    n = op.shape[0]
    k = min(m // 2, n)
    W = op.random_block(k, rng, dist=dist)
    AW = _apply_chunked(op, W)
    Q, R = ba.qr(AW)
    AQ = _apply_chunked(op, Q)
    Rn = ba.to_numpy(R).astype(np.float64)
    Ur, sv, _ = np.linalg.svd(Rn)
    r = int(np.sum(sv > 1e3 * k * np.finfo(np.float64).eps * max(sv[0], 0.0))) if k else 0
    if r < k:
        # A W is numerically rank r < k: every leave-one-out sketch still spans range(A W),
        # so each estimate is exact on span(Q_r) plus Hutchinson on the complement.
        Ub = op.new_block(Ur[:, :r])
        Qr, AQr = Q @ Ub, AQ @ Ub
        t_low = float(np.sum(_colsum(Qr, AQr)))
        C = Qr.T @ W
        return t_low + _colsum(W - Qr @ C, AW - AQr @ C)
    QtAQ = ba.to_numpy(Q.T @ AQ).astype(np.float64)
    # leave-one-out bases: Q_i Q_i^T = Q (I - s_i s_i^T) Q^T with s_i the normalized
    # i-th column of R^{-T}
    Rt_inv = np.linalg.inv(Rn.T)
    Sm = Rt_inv / np.linalg.norm(Rt_inv, axis=0)
    t_low = np.trace(QtAQ) - np.einsum("ji,jk,ki->i", Sm, QtAQ, Sm)
    Sb = op.new_block(Sm)
    C = Q.T @ W  # (k, k)
    Cd = C - Sb * (Sb * C).sum(axis=0)[None, :]  # (I - s_i s_i^T) Q^T w_i, column-wise
    PW = W - Q @ Cd  # (I - Q_i Q_i^T) w_i
    APW = AW - AQ @ Cd  # A (I - Q_i Q_i^T) w_i
    return t_low + _colsum(PW, APW)
