"""Extreme eigenpairs of a symmetric operator: thick-restart (block) Lanczos.

The method is the symmetric Krylov-Schur / thick-restart Lanczos of Wu & Simon (2000) and
Stewart (2001), with full reorthogonalization: the projected matrix T = V^T A V is kept as
a small dense numpy float64 matrix (tridiagonal plus an "arrowhead" after each restart),
the basis V stays in the operator's backend. After every block step the Ritz pairs of T are
computed and the residual of each, ||A y - theta y||, is read off the Krylov relation
A V = V T + Q C (no extra products); the run stops as soon as the k wanted pairs have
residuals <= tol * (largest |Ritz value|). When the basis reaches `ncv` vectors, the
Ritz vectors nearest the wanted end are kept and the rest is discarded (a restart).

Outliers above a bulk converge in a few tens of products (Kaniel-Paige theory); power
iteration with deflation needs a number of products per eigenvalue that grows like
1/log(lambda_i / lambda_{i+1}).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg as sla

from workbench.backends import arrays as ba
from workbench.errors import ConvergenceWarning, ShapeError
from workbench.spectral._checks import (
    as_square_operator,
    check_positive_int,
    check_rank,
    check_which,
    select,
)
from workbench.spectral.lanczos import breakdown_threshold
from workbench.spectral.results import EigResult


def default_ncv(k: int, n: int, block_size: int = 1) -> int:
    """Default maximum basis size: max(2k, k + 30) (+ block), capped at n."""
    return int(min(n, max(2 * k, k + 30) + block_size - 1))


def _orthonormalize(op, W, rng, thr_abs: float, max_new: int, Vs=None):
    """Orthonormal rows Q spanning the rows of W (c x n, already orthogonal to Vs), with
    random directions (orthogonal to Vs and Q) in place of numerically dependent rows, and
    at most `max_new` rows. Returns (Q (b' x n), R (b' x c) numpy with W ~ R^T Q,
    injected: number of random rows)."""
    rows = []

    def orth(w, against):
        for _ in range(2):
            for basis in against:
                if basis is not None and basis.shape[0]:
                    w = w - (basis @ w) @ basis
            if rows:
                Q = ba.concat([r[None, :] for r in rows], axis=0)
                w = w - (Q @ w) @ Q
        return w

    for i in range(W.shape[0]):
        if len(rows) >= max_new:
            break
        w = orth(W[i], [])
        r = ba.scalar(ba.norm(w))
        if r > thr_abs and r > 0:
            rows.append(w / r)
    injected = 0
    target = min(W.shape[0], max_new)
    tries = 0
    while len(rows) < target and tries < 3 * target + 3:
        tries += 1
        z = op.random_block(1, rng)[:, 0]
        z = orth(z / ba.scalar(ba.norm(z)), [Vs])
        r = ba.scalar(ba.norm(z))
        if r > 1e-3:
            rows.append(z / r)
            injected += 1
    if not rows:
        return W[:0], np.zeros((0, W.shape[0])), 0
    Q = ba.concat([r[None, :] for r in rows], axis=0)
    R = ba.to_numpy(Q @ W.T).astype(np.float64)
    if injected:
        R[len(rows) - injected:, :] = 0.0
    return Q, R, injected


def top_eigs(op, k: int = 6, which: str = "LA", tol: float = 1e-8,
             max_matvecs: int | None = None, seed: int | None = 0, ncv: int | None = None,
             block_size: int = 1, v0=None) -> EigResult:
    """k extreme eigenpairs of a symmetric operator by thick-restart (block) Lanczos.

    Parameters
    ----------
    op : symmetric square operator (anything ``aslinearoperator`` accepts).
    k : number of eigenpairs, 1 <= k <= n.
    which : "LA" largest algebraic (default), "SA" smallest algebraic, "LM" largest
        magnitude, "BE" both ends (ceil(k/2) from the top, the rest from the bottom).
    tol : stop when every wanted Ritz pair has ||A y - theta y|| <= tol * scale, scale =
        the largest |Ritz value| (an estimate of ||A||). Eigenvalue errors are then
        <= tol * scale, and ~ (tol * scale)^2 / gap for isolated eigenvalues. Clamped
        below at 10 * machine epsilon of the operator's dtype.
    max_matvecs : budget of products (default max(1000, 20 * ncv)); when exhausted the
        best Ritz pairs are returned with converged=False and a ConvergenceWarning.
    seed : seed of the random start block.
    ncv : maximum basis size before a restart (default max(2k, k + 30), at most n). Memory
        is ncv + block_size vectors of length n in the operator's backend.
    block_size : vectors per Krylov step (default 1). A single-vector Krylov space holds
        one copy of each distinct eigenvalue; exact multiplicities are found when the
        space is exhausted (small n) or with block_size >= the multiplicity.
    v0 : optional start vector (n,) or block (n x block_size).

    Returns
    -------
    EigResult: values (k,) numpy float64 ordered as `which` asks (LA descending, SA
    ascending, LM descending |.|, BE ascending), vectors (n x k, op backend, orthonormal),
    residuals (k,), converged, num_matvecs, seconds, num_restarts, scale, tol (effective).
    ``vals, vecs = top_eigs(...)``.

    Cost: the products until convergence (typically 20-40 for k <= 5 outliers above a
    bulk), plus O(n ncv^2) flops of reorthogonalization per cycle.

    Raises ShapeError (non-square), RankError (k out of [1, n]), NonFiniteError (the
    operator produced NaN/inf).
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "top_eigs", symmetric=True)
    n = op.shape[0]
    k = check_rank(k, n)
    which = check_which(which)
    b = min(check_positive_int(block_size, "block_size"), n)
    if ncv is None:
        ncv = default_ncv(k, n, b)
    ncv = int(min(n, max(check_positive_int(ncv, "ncv"), k + b)))
    tol_eff = max(float(tol), 10.0 * ba.eps(op.dtype))
    if max_matvecs is None:
        max_matvecs = max(1000, 20 * ncv)
    max_matvecs = check_positive_int(max_matvecs, "max_matvecs")
    rng = np.random.default_rng(seed)
    thr = breakdown_threshold(n, op.dtype)
    cap = ncv + b
    V = ba.zeros((cap, n), op.backend, op.dtype, op.device)
    T = np.zeros((cap, cap))
    if v0 is None:
        X0 = op.random_block(b, rng)
    else:
        X0 = v0 if ba.backend_of(v0) == op.backend else op.new_block(ba.to_numpy(v0))
        X0 = X0.reshape(n, -1)
        if X0.shape[1] != b:
            raise ShapeError(f"v0 must have shape ({n},) or ({n}, {b}), got {tuple(v0.shape)}")
        if op.backend == "torch":
            X0 = X0.to(dtype=op.dtype, device=op.device)
    Q0, _, _ = _orthonormalize(op, X0.T, rng, 0.0, b)
    nb = Q0.shape[0]
    V[:nb] = Q0
    s = 0
    start = op.num_matvecs
    scale_est = 0.0
    restarts = 0
    exhausted = False
    skip_until = 0
    snapshot = None
    history = []
    theta = np.zeros(0)
    S = np.zeros((0, 0))
    res = np.zeros(0)
    converged = False
    while True:
        X = V[s:s + nb]
        W = op.matmat(X.T).T  # (nb, n)
        scale_est = max(scale_est, float(np.max(ba.to_numpy(ba.norm(W, axis=1)))))
        Vs = V[: s + nb]
        H = Vs @ W.T
        W = W - H.T @ Vs
        H2 = Vs @ W.T
        W = W - H2.T @ Vs
        Hn = ba.to_numpy(H + H2).astype(np.float64)
        T[: s + nb, s:s + nb] = Hn
        T[s:s + nb, : s + nb] = Hn.T
        D = T[s:s + nb, s:s + nb]
        T[s:s + nb, s:s + nb] = (D + D.T) / 2
        s += nb
        # next block: orthonormal basis of the residual block W
        max_new = min(b, n - s)
        if max_new > 0:
            Qn, Rn, injected = _orthonormalize(op, W, rng, thr * scale_est, max_new,
                                               Vs=V[:s])
        else:
            Qn, Rn, injected = W[:0], np.zeros((0, nb)), 0
        nb_next = Qn.shape[0]
        if nb_next:
            V[s:s + nb_next] = Qn
            T[s:s + nb_next, s - nb:s] = Rn
            T[s - nb:s, s:s + nb_next] = Rn.T
        theta, S = sla.eigh(T[:s, :s])
        C = T[s:s + nb_next, :s]
        res = np.linalg.norm(C @ S, axis=0) if nb_next else np.zeros(s)
        scale = max(float(np.max(np.abs(theta))), 0.0)
        want = select(theta, k, which)
        history.append((op.num_matvecs - start, theta[want].copy(), res[want].copy()))
        if injected:
            # The Krylov space was exhausted: every Ritz pair so far is exact, and (with
            # probability one for a random start) the first exhaustion has found every
            # distinct eigenvalue. Later blocks, started from random vectors orthogonal to
            # the basis, can only add copies of eigenvalues (multiplicities). Stop once a
            # block adds nothing to the wanted values.
            wanted_now = theta[want]
            if not exhausted and np.ptp(theta) <= thr * max(scale, scale_est):
                # one distinct eigenvalue: A = c I on the whole space (probability one)
                return _scalar_identity_result(op, V, s, theta, k, which, rng, tol_eff,
                                               start, t0, seed, restarts, history)
            if (exhausted and s >= k and snapshot is not None and len(snapshot) == k
                    and np.allclose(wanted_now, snapshot, rtol=0,
                                    atol=tol_eff * max(scale, scale_est))):
                converged = True
                break
            exhausted = True
            snapshot = wanted_now.copy()
            skip_until = s + max(k, b)
        if nb_next == 0:  # the whole space is spanned: the Ritz pairs are exact
            converged = True
            break
        if s >= k and s >= skip_until and np.all(res[want] <= tol_eff * scale):
            converged = True
            break
        if op.num_matvecs - start >= max_matvecs:
            break
        if s + nb_next > ncv:  # thick restart: keep the Ritz vectors nearest the wanted end
            p = max(k, min(k + (ncv - k) // 2, ncv - b, s - 1))
            keep = select(theta, p, which)
            Sk = S[:, keep]
            Y = op.new_block(Sk.T) @ V[:s]
            Qcopy = V[s:s + nb_next] * 1.0
            V[:p] = Y
            V[p:p + nb_next] = Qcopy
            T[:] = 0.0
            T[np.arange(p), np.arange(p)] = theta[keep]
            Ck = C @ Sk
            T[p:p + nb_next, :p] = Ck
            T[:p, p:p + nb_next] = Ck.T
            s = p
            skip_until = min(skip_until, s)
            restarts += 1
        nb = nb_next
    want = select(theta, k, which)
    vecs = (op.new_block(S[:, want].T) @ V[:s]).T
    if not converged:
        warnings.warn(f"top_eigs stopped after {op.num_matvecs - start} matvecs "
                      f"(max_matvecs={max_matvecs}) with residuals up to "
                      f"{np.max(res[want]):.3g} > tol*scale = {tol_eff * scale:.3g}",
                      ConvergenceWarning, stacklevel=2)
    return EigResult(values=theta[want].copy(), vectors=vecs, residuals=res[want].copy(),
                     converged=converged, num_matvecs=op.num_matvecs - start,
                     seconds=time.perf_counter() - t0, k=k, which=which, tol=tol_eff,
                     scale=scale, num_restarts=restarts, seed=seed, history=tuple(history))


def _scalar_identity_result(op, V, s, theta, k, which, rng, tol_eff, start, t0, seed,
                            restarts, history):
    """A = c I: every vector is an eigenvector; return k orthonormal ones, values c."""
    c = float(np.mean(theta))
    n = op.shape[0]
    rows = V[:s]
    if s < k:
        extra, _, _ = _orthonormalize(op, op.random_block(k - s, rng).T, rng, 0.0, k - s)
        Q, _ = ba.qr(ba.concat([rows, extra], axis=0).T)
        rows = Q.T
    vecs = rows[:k].T
    return EigResult(values=np.full(k, c), vectors=vecs, residuals=np.zeros(k),
                     converged=True, num_matvecs=op.num_matvecs - start,
                     seconds=time.perf_counter() - t0, k=k, which=which, tol=tol_eff,
                     scale=abs(c), num_restarts=restarts, seed=seed, history=tuple(history),
                     method=f"thick-restart-lanczos (operator is {c:g} I on R^{n})")
