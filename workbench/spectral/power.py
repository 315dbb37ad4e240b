"""Power iteration with deflation: the baseline PyHessian uses for top Hessian eigenvalues.

Kept as a reference for benchmarks and teaching (it is what top_eigs is measured against);
prefer :func:`workbench.spectral.top_eigs`, which needs far fewer products.
"""

from __future__ import annotations

import time

import numpy as np

from workbench.backends import arrays as ba
from workbench.spectral._checks import as_square_operator, check_rank
from workbench.spectral.results import EigResult


def power_iteration(op, k: int = 1, tol: float = 1e-3, max_iter: int = 100,
                    seed: int | None = 0, target=None, target_rtol: float = 1e-6,
                    residual_tol: float | None = None) -> EigResult:
    """Top-k eigenpairs (largest magnitude) by power iteration, deflating the vectors found
    (v <- v - sum_j (v_j^T v) v_j), as PyHessian's ``eigenvalues`` does.

    Stops each eigenvalue when the relative change of the Rayleigh quotient falls below
    `tol` (PyHessian's rule); or, with `residual_tol`, when ||A v - lambda v|| <=
    residual_tol * |lambda_1| (top_eigs' rule, for like-for-like comparisons); or, when
    `target` (the exact eigenvalues, for benchmarks) is given, when the estimate is within
    `target_rtol` of target[i]. max_iter per eigenvalue.

    Returns EigResult (values in the order found, vectors n x k in the op's backend,
    residuals ||A v - lambda v|| from the last product); converged is True when every
    eigenvalue met its stopping rule. history: one entry per product, (matvecs so far,
    values found so far + the current estimate, their residuals), the format of
    top_eigs' history.

    Cost: at most k * max_iter products.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "power_iteration", symmetric=True)
    n = op.shape[0]
    k = check_rank(k, n)
    rng = np.random.default_rng(seed)
    before = op.num_matvecs
    vals, vecs, res = [], [], []
    history = []
    ok = True
    for i in range(k):
        v = op.random_block(1, rng)[:, 0]
        lam = None
        done = False
        for _ in range(max_iter):
            for u in vecs:
                v = v - (u @ v) * u
            v = v / ba.norm(v)
            Av = op.matvec(v)
            new = ba.scalar(v @ Av)
            r = Av - new * v
            if residual_tol is not None:
                ref = abs(vals[0]) if vals else abs(new)
                done = ba.scalar(ba.norm(r)) <= residual_tol * ref
            elif target is not None:
                done = abs(new - target[i]) <= target_rtol * abs(target[i])
            elif lam is not None:
                done = abs(new - lam) <= tol * (abs(lam) + 1e-6)
            lam, v = new, Av
            history.append((op.num_matvecs - before, np.array([*vals, lam]),
                            np.array([*res, ba.scalar(ba.norm(r))])))
            if done:
                break
        ok = ok and done
        u = v / ba.norm(v)
        for w in vecs:
            u = u - (w @ u) * w
        u = u / ba.norm(u)
        vals.append(lam)
        vecs.append(u)
        res.append(ba.scalar(ba.norm(r)))
    V = ba.concat([u[:, None] for u in vecs], axis=1)
    return EigResult(values=np.array(vals), vectors=V, residuals=np.array(res), converged=ok,
                     num_matvecs=op.num_matvecs - before, seconds=time.perf_counter() - t0,
                     k=k, which="LM", tol=tol, method="power-iteration-deflation", seed=seed,
                     history=tuple(history))
