"""The Lanczos process: m steps from a start vector, with full reorthogonalization.

Bases live in the operator's backend (numpy, or torch on CPU/CUDA); only the O(m) scalars
alpha_j, beta_j travel to numpy float64. Several independent start vectors run as one
batch so that the operator is applied to blocks (``op.matmat``), which is cheaper than
separate products for dense, sparse and autograd operators alike.
"""

from __future__ import annotations

import time

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import ShapeError, WorkbenchError
from workbench.spectral._checks import as_square_operator, check_positive_int
from workbench.spectral.results import LanczosResult

REORTH = ("full", "none")


def breakdown_threshold(n: int, dtype) -> float:
    """Relative size of beta_j below which the Krylov space counts as exhausted: a few
    rounding errors of an orthogonalized n-vector (10 sqrt(n) eps)."""
    return 10.0 * np.sqrt(n) * ba.eps(dtype)


def _swap(x):
    return x.swapaxes(-1, -2)


def _project(Vj, w):
    """Coefficients Vj[p] @ w[p] for each probe p: (P, j). numpy's stacked matmul on the
    strided slice V[:, :j, :] is several times slower than einsum's BLAS path."""
    if ba.is_torch(Vj):
        return (Vj @ w[:, :, None])[:, :, 0]
    return np.einsum("pjn,pn->pj", Vj, w, optimize=True)


def _take(op, x, idx: np.ndarray):
    """Rows `idx` (numpy ints) of a backend array."""
    if op.backend == "torch":
        import torch

        return x[torch.as_tensor(idx, dtype=torch.long, device=x.device)]
    return x[idx]


def lanczos_batch(op, V0, num_steps: int, reorth: str = "full", keep_basis: bool = True):
    """Run independent Lanczos processes from the columns of V0 (n x P, op backend).

    Returns (alpha (P, m), beta (P, m), lengths (P,), basis (P, m, n) or None, breakdown
    (P,) bool), numpy except the basis. Row p is valid up to lengths[p]; beta[p, j] couples
    step j to j+1 and beta[p, lengths[p]-1] is the final residual norm (0 at breakdown).
    Cost: sum(lengths) matvecs (broken-down probes stop being applied), plus
    O(n m^2 P) flops for full reorthogonalization.
    """
    n, P = V0.shape
    m = min(num_steps, n)
    thr = breakdown_threshold(n, op.dtype)
    X = _swap(V0)  # (P, n)
    nrm = ba.to_numpy(ba.norm(X, axis=1)).astype(np.float64)
    if not np.all(nrm > 0):
        raise WorkbenchError("a Lanczos start vector is zero")
    X = X / op.new_block(nrm[:, None])
    alpha = np.zeros((P, m))
    beta = np.zeros((P, m))
    lengths = np.zeros(P, dtype=int)
    breakdown = np.zeros(P, dtype=bool)
    scale = np.zeros(P)
    store = keep_basis or reorth == "full"
    V = None
    if store:
        V = ba.zeros((P, m, n), op.backend, op.dtype, op.device)
        V[:, 0, :] = X
    active = np.arange(P)
    cur, prev = X, None  # current / previous Lanczos vectors of the active probes
    for j in range(m):
        w = _swap(op.matmat(_swap(cur)))  # (a, n)
        if reorth == "full":
            Vj = (V if len(active) == P else _take(op, V, active))[:, : j + 1, :]
            h = _project(Vj, w)
            w = w - (_swap(Vj) @ h[:, :, None])[:, :, 0]
            h2 = _project(Vj, w)
            w = w - (_swap(Vj) @ h2[:, :, None])[:, :, 0]
            a_np = ba.to_numpy(h[:, j] + h2[:, j]).astype(np.float64)
        else:
            a_j = (w * cur).sum(axis=1)
            w = w - a_j[:, None] * cur
            if prev is not None:
                w = w - op.new_block(beta[active, j - 1][:, None]) * prev
            a_np = ba.to_numpy(a_j).astype(np.float64)
        b_np = ba.to_numpy(ba.norm(w, axis=1)).astype(np.float64)
        alpha[active, j] = a_np
        prev_b = beta[active, j - 1] if j > 0 else np.zeros(len(active))
        beta[active, j] = b_np
        lengths[active] = j + 1
        scale[active] = np.maximum(scale[active], np.abs(a_np) + b_np + prev_b)
        broke = b_np <= thr * scale[active]
        breakdown[active[broke]] = True
        beta[active[broke], j] = 0.0
        if j == m - 1:
            break
        keep = np.flatnonzero(~broke)
        if len(keep) == 0:
            break
        w = _take(op, w, keep) / op.new_block(b_np[keep][:, None])
        prev = _take(op, cur, keep)
        cur = w
        active = active[keep]
        if store:
            if op.backend == "torch":
                import torch

                V[torch.as_tensor(active, dtype=torch.long, device=V.device), j + 1, :] = w
            else:
                V[active, j + 1, :] = w
    return alpha, beta, lengths, (V if keep_basis else None), breakdown


def lanczos(op, num_steps: int, v0=None, seed: int | None = 0, reorth: str = "full",
            keep_basis: bool = True) -> LanczosResult:
    """Run `num_steps` steps of Lanczos on the symmetric operator `op`.

    Parameters
    ----------
    op : a symmetric square operator (anything ``aslinearoperator`` accepts).
    num_steps : number of steps m (capped at n).
    v0 : start vector (numpy or the op's backend); default a Gaussian vector from `seed`.
    reorth : "full" (default; Gram-Schmidt twice against the whole basis: the basis stays
        orthonormal to rounding, no ghost eigenvalues) or "none" (three-term recurrence
        only, O(n) memory when keep_basis=False; ghosts appear once Ritz values converge).
    keep_basis : return V (n x m in the op's backend).

    Returns
    -------
    LanczosResult with alpha (m,), beta (m-1,), basis, breakdown (True when the Krylov
    space was exhausted, i.e. an invariant subspace was found: the process stopped there,
    possibly before num_steps, and the Ritz values are exact eigenvalues), residual_norm,
    num_matvecs, seconds.

    Cost: m matvecs (fewer at breakdown) and O(n m^2) flops for the reorthogonalization.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "lanczos", symmetric=True)
    num_steps = check_positive_int(num_steps, "num_steps")
    if reorth not in REORTH:
        raise WorkbenchError(f"reorth={reorth!r} is not one of {REORTH}")
    n = op.shape[0]
    if v0 is None:
        V0 = op.random_block(1, np.random.default_rng(seed))
    else:
        if tuple(v0.shape) not in ((n,), (n, 1)):
            raise ShapeError(f"v0 must have shape ({n},), got {tuple(v0.shape)}")
        if ba.backend_of(v0) == op.backend == "torch":
            V0 = v0.reshape(n, 1).to(dtype=op.dtype, device=op.device)
        else:
            V0 = op.new_block(ba.to_numpy(v0).reshape(n, 1))
    before = op.num_matvecs
    alpha, beta, lengths, V, brk = lanczos_batch(op, V0, num_steps, reorth, keep_basis)
    m = int(lengths[0])
    basis = V[0, :m, :].T if V is not None else None
    return LanczosResult(
        alpha=alpha[0, :m].copy(), beta=beta[0, : max(m - 1, 0)].copy(), basis=basis,
        breakdown=bool(brk[0]),
        num_matvecs=op.num_matvecs - before, seconds=time.perf_counter() - t0,
        num_steps=num_steps, residual_norm=float(beta[0, m - 1]) if m else 0.0,
        reorth=reorth, seed=seed)
