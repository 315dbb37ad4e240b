"""The SVD family: exact truncated SVD, randomized SVD (range finder + power iterations),
block Krylov SVD (with a residual check to run to convergence), and the Gram-matrix route.

All accept a numpy array, scipy sparse matrix, torch tensor (CPU/CUDA) or any
:mod:`workbench.operators` operator (the randomized ones need only products with A and
A^T). Results are :class:`~workbench.lowrank.results.LowRankResult` with factors
``U, s, Vt`` (U, Vt in the input's backend, s numpy float64).

On a dense torch tensor (CPU or CUDA) every step stays on the tensor's device: the
products, the QRs, the small SVD / eigh (in float64 on the device) and the residual
checks; the input is checked for NaN/inf once, and the host reads back only the singular
values at the end (and, in the convergence-checked modes, one flag per Krylov block).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from workbench.backends import arrays as ba
from workbench.errors import ConvergenceWarning
from workbench.lowrank._checks import as_matrix, check_rank
from workbench.lowrank.results import LowRankResult, should_compute_error
from workbench.operators import LinearOperator, aslinearoperator
from workbench.spectral.randomized import auto_oversample, auto_power_iters


def _finish(res: LowRankResult, A, compute_error, reference_sv) -> LowRankResult:
    if isinstance(A, LinearOperator) or not should_compute_error(A, compute_error):
        return res
    return res.with_error(A, reference_sv)


class _TensorProducts:
    """Products with a dense torch tensor on its own device, counted like an operator's
    (``num_matvecs``) but without the operator's per-product NaN/inf check (a host sync on
    CUDA each time): the input was checked once by ``as_matrix``."""

    backend = "torch"

    def __init__(self, A):
        self.A = A
        self.shape = (int(A.shape[0]), int(A.shape[1]))
        self.dtype, self.device = A.dtype, A.device
        self.num_matvecs = 0

    def reset_counter(self) -> None:
        self.num_matvecs = 0

    def matmat(self, X):
        self.num_matvecs += X.shape[1]
        return self.A @ X

    def rmatmat(self, Y):
        self.num_matvecs += Y.shape[1]
        return self.A.T @ Y

    def random_block(self, k: int, rng: np.random.Generator):
        # drawn by numpy from the seed (numpy and torch runs see the same block), moved once
        return ba.random_block(self.shape[1], k, rng, "torch", self.dtype, self.device)


def _as_op(A, dtype=None):
    if isinstance(A, LinearOperator):
        return A
    import scipy.sparse as sps

    if not sps.issparse(A):
        A = as_matrix(A)
    if dtype is not None:
        if ba.is_torch(A):
            import torch

            A = A.to(getattr(torch, str(np.dtype(dtype))))
        else:
            A = A.astype(dtype, copy=False)
    if ba.is_torch(A) and not A.is_sparse:
        return _TensorProducts(A)
    return aslinearoperator(A, symmetric=False)


def _f64(X):
    """X in float64, on its own device (torch) or as a numpy array."""
    if ba.is_torch(X):
        import torch

        return X.to(torch.float64)
    return np.asarray(X, dtype=np.float64)


def _eigh_desc(G):
    """Eigenpairs of a small symmetric matrix, descending, in G's backend and device."""
    if ba.is_torch(G):
        import torch

        w, Y = torch.linalg.eigh(G)
        return torch.flip(w, (0,)), torch.flip(Y, (1,))
    with _one_thread():
        w, Y = np.linalg.eigh(G)
    return w[::-1], Y[:, ::-1]


def _host(x) -> np.ndarray:
    return np.asarray(ba.to_numpy(x), dtype=np.float64)


def _one_thread():
    """BLAS limited to one thread: for the small factorizations (QR of n x b blocks, SVD of
    the K x n projected matrix, K x K eigh). Multi-threaded LAPACK on such sizes is barely
    faster on an idle machine and up to 50x slower on a loaded one (OpenBLAS threads spin
    while competing for cores) — measured on the 2-core build machine."""
    from workbench.backends.threads import one_blas_thread

    return one_blas_thread()


def _qr(X):
    if ba.is_torch(X):
        return ba.qr(X)
    with _one_thread():
        return ba.qr(X)


def _small_svd(B):
    """SVD of a small dense block in float64: on the tensor's device for torch (the result
    stays there), else numpy (gesdd, falling back to gesvd)."""
    import scipy.linalg

    if ba.is_torch(B):
        import torch

        return torch.linalg.svd(_f64(B), full_matrices=False)

    Bn = np.asarray(ba.to_numpy(B), dtype=np.float64)
    with _one_thread():
        try:
            return scipy.linalg.svd(Bn, full_matrices=False, check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - gesdd rarely fails
            return scipy.linalg.svd(Bn, full_matrices=False, check_finite=False,
                                    lapack_driver="gesvd")


def truncated_svd(A, rank: int, *, compute_error: bool | str = "auto",
                  reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Exact rank-`rank` truncated SVD by LAPACK (numpy) or torch.linalg.svd (torch): the
    Eckart–Young optimum itself. Costs O(m n min(m, n)); use for matrices up to a few
    thousand. Returns a LowRankResult with factors U (m x k), s (k,), Vt (k x n)."""
    A = as_matrix(A)
    k = check_rank(rank, tuple(A.shape))
    t0 = time.perf_counter()
    if ba.is_torch(A):
        import torch

        U, s, Vt = torch.linalg.svd(A, full_matrices=False)
        U, s, Vt = U[:, :k], ba.to_numpy(s[:k]).astype(np.float64), Vt[:k]
        full_s = None
    else:
        U, full_s, Vt = _small_svd(A)
        U, s, Vt = U[:, :k], full_s[:k], Vt[:k]
    dt = time.perf_counter() - t0
    res = LowRankResult("svd", k, {"U": U, "s": s, "Vt": Vt}, tuple(A.shape),
                        params={}, seconds=dt, num_matvecs=None)
    if full_s is not None and reference_sv is None:
        reference_sv = full_s
    return _finish(res, A, compute_error, reference_sv)


def _range_finder(op, rank: int, oversample: int, power_iters: int, seed: int):
    """Orthonormal basis (m x (rank+oversample)) of the range of op: Gaussian sketch +
    power iterations with re-orthonormalization (QR) after every product, l (1 + 2
    power_iters) matvecs — the engine's randomized range finder, same draws, same steps."""
    ell = min(rank + oversample, *op.shape)
    rng = np.random.default_rng(seed)
    Q, _ = _qr(op.matmat(op.random_block(ell, rng)))
    for _ in range(power_iters):
        Z, _ = _qr(op.rmatmat(Q))
        Q, _ = _qr(op.matmat(Z))
    return Q


def randomized_svd(A, rank: int, *, oversample: int | str = "auto",
                   power_iters: int | str = "auto",
                   method: str = "subspace", tol: float | None = None,
                   block_size: int | None = None, max_iters: int = 60, seed: int = 0,
                   dtype: Any = None, compute_error: bool | str = "auto",
                   reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Randomized truncated SVD: ``U, s, Vt = randomized_svd(A, rank)``.

    method="subspace": Gaussian sketch of rank + oversample columns, `power_iters`
    power/subspace iterations (QR after every product), then the SVD of the small matrix
    Q^T A. Costs (rank + oversample) * (2 power_iters + 2) matvecs.

    Defaults ("auto"): power_iters by scikit-learn's rule, 7 when rank < min(m, n) / 10 and
    4 otherwise, and oversample = max(15, rank // 4) (scikit-learn: 10). With them the
    singular values are at least as accurate as scikit-learn's ``randomized_svd`` at its
    defaults (and QR re-orthonormalization where scikit-learn uses LU) on fast, slow
    ((1+i)^-0.6) and flat-then-drop spectra (tests/test_lowrank_defaults.py), typically
    2-5x more accurate for 10-25% more products; power_iters=2 is the cheap choice for
    fast decay.

    method="krylov": block Krylov (see :func:`block_krylov_svd`): the whole Krylov space
    [A W, (A A^T) A W, ...] instead of its last block; more accurate per matvec on slowly
    decaying spectra ("auto" depth: 4). With ``tol`` it runs until every top-`rank`
    singular value has relative accuracy `tol` by its residual bound (the "exact" mode).

    dtype: e.g. "float32" to run the products in single precision (twice the BLAS speed;
    singular values then carry ~1e-6 relative rounding: the small SVD runs in float64).
    On a torch tensor every step runs on its device and U, Vt come back there. Returns a
    LowRankResult (``num_matvecs`` counts products with A and A^T).
    """
    if method == "krylov" or tol is not None:
        return block_krylov_svd(A, rank, block_size=block_size,
                                iters=None if power_iters == "auto" else power_iters,
                                tol=tol, max_iters=max_iters, seed=seed, dtype=dtype,
                                compute_error=compute_error, reference_sv=reference_sv)
    if method != "subspace":
        raise ValueError(f"method must be 'subspace' or 'krylov', got {method!r}")
    op = _as_op(A, dtype)
    k = check_rank(rank, op.shape)
    if power_iters == "auto":
        power_iters = auto_power_iters(k, op.shape)
    if oversample == "auto":
        oversample = auto_oversample(k)
    if isinstance(power_iters, str) or isinstance(oversample, str):
        raise ValueError(f"oversample and power_iters must be integers or 'auto', got "
                         f"{oversample!r}, {power_iters!r}")
    if oversample < 0 or power_iters < 0:
        raise ValueError("oversample and power_iters must be >= 0")
    power_iters = int(power_iters)
    oversample = min(oversample, min(op.shape) - k)
    op.reset_counter()
    t0 = time.perf_counter()
    Q = _range_finder(op, k, oversample, power_iters, seed)
    Bt = op.rmatmat(Q)                       # n x l: (Q^T A)^T
    if ba.is_torch(Bt):
        # on the device: Bt = Q2 R2, so B = R2^T Q2^T and the SVD of the l x l R2^T gives
        # B's (the same steps as torch.svd_lowrank); float64 for the small factorization
        Q2, R2 = _qr(Bt)
        Ub, s, Wt = _small_svd(R2.T)
        U = Q @ Ub[:, :k].to(Q.dtype)
        Vt = (Q2 @ Wt[:k].T.to(Q.dtype)).T
        s = _host(s)
    else:
        Ub, s, Vt = _small_svd(ba.to_numpy(Bt).T)
        U = Q @ ba.like(Ub[:, :k], Q)
        Vt = ba.like(Vt[:k], Q)
    dt = time.perf_counter() - t0
    res = LowRankResult("randomized", k, {"U": U, "s": s[:k], "Vt": Vt}, op.shape,
                        params=dict(oversample=oversample, power_iters=power_iters,
                                    seed=seed, dtype=str(dtype) if dtype else None),
                        seconds=dt, num_matvecs=op.num_matvecs)
    return _finish(res, A, compute_error, reference_sv)


class _Columns:
    """A growing block of columns (numpy or torch) with amortized O(1) appends."""

    def __init__(self, first, cap: int):
        cap = max(cap, first.shape[1])
        self.buf = ba.zeros((first.shape[0], cap), ba.backend_of(first), first.dtype,
                            getattr(first, "device", None))
        self.buf[:, :first.shape[1]] = first
        self.count = first.shape[1]

    @property
    def cap(self) -> int:
        return self.buf.shape[1]

    def append(self, X) -> _Columns:
        c = self.count + X.shape[1]
        if c > self.cap:
            new = ba.zeros((self.buf.shape[0], max(2 * self.cap, c)), ba.backend_of(X),
                           self.buf.dtype, getattr(X, "device", None))
            new[:, :self.count] = self.buf[:, :self.count]
            self.buf = new
        self.buf[:, self.count:c] = X
        self.count = c
        return self

    def view(self):
        return self.buf[:, :self.count]


def block_krylov_svd(A, rank: int, *, block_size: int | None = None, iters: int | None = 4,
                     tol: float | None = None, max_iters: int = 60, seed: int = 0,
                     dtype: Any = None, compute_error: bool | str = "auto",
                     reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Block Krylov SVD (Musco & Musco 2015) with full re-orthogonalization.

    Builds an orthonormal basis Q of K = [A W, (A A^T) A W, ..., (A A^T)^q A W] (W Gaussian
    n x b, b = `block_size`, default rank + 10, or max(10, rank / 2) with ``tol``) and takes the SVD of Q^T A, which is the
    stack of the A^T Q_j blocks computed along the way (no extra pass). Depth q = `iters`,
    or with ``tol``: grow until for each of the top `rank` Ritz pairs (s_i^2, u_i) of A A^T
    the residual r_i = ||A A^T u_i - s_i^2 u_i|| (read off the next block's QR factor,
    free) satisfies min(r_i, r_i^2 / gap_i) / (2 s_i^2) <= tol — a bound on the relative error
    of s_i (gap_i: distance of s_i^2 to the neighbouring Ritz values squared). Like every
    residual test it cannot see a singular value the Krylov space has not found yet; the
    Gaussian start makes that unlikely unless a cluster is wider than the block. If it
    stops early (max_iters, or the space fills min(m, n)) a ConvergenceWarning is issued.

    Costs b (2 q + 1) matvecs (+ b for the residual check with tol). Returns a
    LowRankResult; ``info`` holds residuals, iterations and ``converged``.
    """
    op = _as_op(A, dtype)
    k = check_rank(rank, op.shape)
    m, n = op.shape
    if block_size:
        b = int(block_size)
    else:
        # fixed depth: a block of rank + 10 (the usual oversampling); to convergence, half
        # the rank: a longer, thinner Krylov space needs fewer products for the same
        # accuracy (measured: 30-40% less time for rank 50-100 on slowly decaying spectra)
        b = k + 10 if tol is None else max(10, (k + 1) // 2)
    b = max(1, min(b, min(m, n)))
    depth_cap = max_iters if tol is not None else int(iters if iters is not None else 4)
    op.reset_counter()
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    Q0, _ = _qr(op.matmat(op.random_block(b, rng)))
    on_torch = ba.is_torch(Q0)
    Qb = _Columns(Q0, 4 * b if tol is None else 8 * b)
    Wb = None
    G = None                  # B B^T (float64, Q0's device), grown block by block (tol)
    converged, res_rel = False, None
    w = Y = None
    j = 0
    Qlast = Q0
    while True:
        W = op.rmatmat(Qlast)                       # n x b  (rows of B = Q^T A)
        Wb = _Columns(W, Qb.cap) if Wb is None else Wb.append(W)
        K = Qb.count
        last = j >= depth_cap or K + b > min(m, n)
        if tol is not None or not last:
            Z = op.matmat(W)
            Qall = Qb.view()
            # block classical Gram-Schmidt, repeated ("twice is enough") only when a
            # column lost more than 30% of its norm (Daniel, Gragg, Kaufman & Stewart);
            # on torch always twice: the test would be a host sync per block
            for _ in range(2):
                before = ba.norm(Z, axis=0)
                Z = Z - Qall @ (Qall.T @ Z)
                if not on_torch and bool((ba.norm(Z, axis=0) > 0.7 * before).all()):
                    break
            Qn, T = _qr(Z)
        if tol is not None:
            # Ritz values from the small Gram matrix B B^T (K x K), grown by one block of
            # rows/columns per step: eigh costs K^3 instead of the n K^2 of an SVD of B;
            # the final triplets come from the SVD below.
            cross = _f64(Wb.view().T @ W)                                    # K x b
            G2 = ba.zeros((K, K), ba.backend_of(cross), cross.dtype,
                          getattr(cross, "device", None))
            if G is not None:
                G2[:K - b, :K - b] = G
            G2[:, K - b:] = cross
            G2[K - b:, :K - b] = cross[:K - b].T
            G = G2
        if tol is not None and K >= k:
            w, Y = _eigh_desc(G)
            # A A^T Q = Q G + Q_next T E^T (the block Krylov relation), so the Ritz pair
            # (s_i^2, u_i = Q y_i) of A A^T has residual r_i = ||T y_i[last block]||.
            # Then |s_i^2 - sigma^2| <= r_i for some singular value sigma (Weyl), and
            # <= r_i^2 / gap_i (Kato-Temple, gap_i to the rest of the spectrum, estimated
            # by the Ritz values); relative error of s_i: that over 2 s_i^2 (|s - sigma| =
            # |s^2 - sigma^2| / (s + sigma), and s ~ sigma once converged).
            res_rel = _residual_bounds(w, Y, _f64(T), K, b)[:k]
            # one host read per block (the stopping decision), on either backend
            if bool((res_rel <= tol).all()):
                converged = True
                break
        if last:
            break
        Qb.append(Qn)
        Qlast = Qn
        j += 1
    Qall, Bt = Qb.view(), Wb.view()
    if G is None or G.shape[0] != Bt.shape[1]:    # fixed depth: B B^T not formed yet
        Btn = _f64(Bt)
        G = Btn.T @ Btn
        w = None
    elif not converged:
        w = None                                  # G grew after the last eigh
    U, s, Vt_k = _ritz_triplets(Qall, Bt, G, k, 0.1 * tol if tol else 1e-10,
                                w=w, Y=Y if w is not None else None)
    dt = time.perf_counter() - t0
    if res_rel is not None:
        res_rel = _host(res_rel)
    if tol is not None and not converged:
        warnings.warn(f"block Krylov SVD stopped after {j + 1} blocks without reaching "
                      f"tol={tol:g} (worst bound {float(np.max(res_rel)):.2e})",
                      ConvergenceWarning, stacklevel=2)
    info = dict(iterations=j + 1, basis_size=Qb.count, converged=converged if tol else None)
    if res_rel is not None:
        info["error_bound"] = res_rel
    res = LowRankResult("krylov", k, {"U": U, "s": s[:k], "Vt": Vt_k}, op.shape,
                        params=dict(block_size=b, iters=iters, tol=tol, seed=seed,
                                    dtype=str(dtype) if dtype else None),
                        seconds=dt, num_matvecs=op.num_matvecs, info=info)
    return _finish(res, A, compute_error, reference_sv)


def _residual_bounds(w, Y, T, K: int, b: int):
    """Relative error bounds of the Ritz values (see block_krylov_svd), in w's backend."""
    tiny = float(np.finfo(float).tiny)
    if ba.is_torch(w):
        import torch

        w = torch.clamp(w, min=0.0)
        s2 = torch.clamp(w, min=tiny)
        r = torch.linalg.vector_norm(T @ Y[K - b:, :], dim=0)
        d = s2[:-1] - s2[1:]
        inf = torch.full((1,), float("inf"), dtype=s2.dtype, device=s2.device)
        gaps = torch.minimum(torch.cat([inf, d]), torch.cat([d, inf]))
        gaps = torch.clamp(gaps, min=1e-300)
        return torch.minimum(r, r**2 / gaps) / (2 * s2)
    w = np.maximum(w, 0.0)
    s2 = np.maximum(w, tiny)
    r = np.linalg.norm(T @ Y[K - b:, :], axis=0)
    gaps = np.full_like(s2, np.inf)
    gaps[1:] = np.minimum(gaps[1:], s2[:-1] - s2[1:])
    gaps[:-1] = np.minimum(gaps[:-1], s2[:-1] - s2[1:])
    gaps = np.maximum(gaps, 1e-300)
    return np.minimum(r, r**2 / gaps) / (2 * s2)


def _ritz_triplets(Q, Bt, G, k: int, accuracy: float, w=None, Y=None):
    """Top-k (U, s, Vt) of A ~ Q B from B = Q^T A (given as Bt = B^T, n x K); s numpy,
    U and Vt in Q's backend and device.

    From the eigendecomposition of the small K x K Gram matrix G = B B^T (reused when the
    convergence check already computed it: w, Y) when squaring is harmless — eps s_1^2 /
    s_k^2 <= `accuracy`, the relative error this adds to s_k — which costs K^3 instead of
    the n K^2 of an SVD of B; otherwise from the SVD of B (the K x n matrix)."""
    if w is None:
        w, Y = _eigh_desc(G)
    if ba.is_torch(w):
        w = w.clamp(min=0.0)
        w0, wk = (float(v) for v in w[[0, k - 1]].cpu())       # one small host read
    else:
        w = np.maximum(w, 0.0)
        w0, wk = float(w[0]), float(w[k - 1])
    if wk > 0 and ba.eps(Bt.dtype) * w0 / wk <= accuracy:
        if ba.is_torch(w):
            s_dev = w[:k].sqrt()
            Yk = Y[:, :k].contiguous()
            U = Q @ Yk.to(Q.dtype)
            Vt = (Bt @ (Yk / s_dev).to(Q.dtype)).T
            return U, _host(s_dev), Vt
        s = np.sqrt(w[:k])
        Yk = ba.like(np.ascontiguousarray(Y[:, :k]), Q)
        U = Q @ Yk
        Vt = (Bt @ (Yk / ba.like(s, Q))).T
        return U, s, Vt
    if ba.is_torch(Bt):
        # Bt = Q2 R2: the SVD of the K x K R2^T, on the device
        Q2, R2 = _qr(Bt)
        Ub, s, Wt = _small_svd(R2.T)
        return (Q @ Ub[:, :k].to(Q.dtype), _host(s[:k]), (Q2 @ Wt[:k].T.to(Q.dtype)).T)
    Ub, s, Vt = _small_svd(ba.to_numpy(Bt).T)
    return Q @ ba.like(Ub[:, :k], Q), s[:k], ba.like(Vt[:k], Q)


def gram_svd(A, rank: int, *, compute_error: bool | str = "auto",
             reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Top-`rank` SVD from the eigendecomposition of the smaller Gram matrix (A^T A if
    n <= m, else A A^T), computed only for the wanted eigenvalues (LAPACK evr).

    Costs one product m n min(m, n) (syrk) plus O(min(m,n)^2 (min(m,n) + k)) — fast when
    one side is small. Squaring the matrix limits the relative accuracy of s_i to about
    eps (s_1 / s_i)^2 (reported in ``info['accuracy']``)."""
    import scipy.linalg

    A = as_matrix(A)
    k = check_rank(rank, tuple(A.shape))
    m, n = A.shape
    t0 = time.perf_counter()
    tall = n <= m
    G = (A.T @ A) if tall else (A @ A.T)
    if ba.is_torch(G):
        # on the device: full eigh of the Gram matrix in float64 (torch has no subset eigh)
        w, V = _eigh_desc(_f64(G))
        w, V = w[:k].clamp(min=0.0), V[:, :k]
        s_dev = w.sqrt()
        safe_dev = s_dev.clone()
        safe_dev[safe_dev == 0] = 1.0
        Vb = (V / safe_dev).to(A.dtype)
        if tall:
            U, Vt = A @ Vb, V.T.to(A.dtype).contiguous()
        else:
            Vt, U = (A.T @ Vb).T, V.to(A.dtype).contiguous()
        s = _host(s_dev)
        safe = np.where(s > 0, s, 1.0)
    else:
        Gn = np.asarray(G, dtype=np.float64)
        p = Gn.shape[0]
        w, V = scipy.linalg.eigh(Gn, subset_by_index=(p - k, p - 1), driver="evr",
                                 check_finite=False)
        w, V = w[::-1], V[:, ::-1]
        s = np.sqrt(np.maximum(w, 0.0))
        safe = np.where(s > 0, s, 1.0)
        Vb = ba.like(np.ascontiguousarray(V / safe), A)
        if tall:
            U = A @ Vb                                   # A v_i / s_i
            Vt = ba.like(np.ascontiguousarray(V.T), A)
        else:
            Vt = (A.T @ Vb).T
            U = ba.like(np.ascontiguousarray(V), A)
    dt = time.perf_counter() - t0
    eps = ba.eps(A.dtype)
    acc = eps * (s[0] / safe) ** 2
    res = LowRankResult("gram", k, {"U": U, "s": s, "Vt": Vt}, (m, n), params={},
                        seconds=dt, num_matvecs=None, info=dict(accuracy=acc))
    return _finish(res, A, compute_error, reference_sv)


def exact_svd(A, rank: int, *, tol: float = 1e-8, method: str = "auto", seed: int = 0,
              compute_error: bool | str = "auto",
              reference_sv: np.ndarray | None = None) -> LowRankResult:
    """Top-`rank` singular triplets to relative accuracy `tol` (default 1e-8), by the
    fastest route: "lapack" (dense SVD) for small matrices, "gram" when one side is small
    enough that its Gram matrix is cheap and squaring keeps `tol`, else "krylov" (block
    Krylov run to convergence with its residual check). Returns a LowRankResult."""
    if method == "auto":
        shape = A.shape
        small = min(shape)
        if small <= 400 or small <= 2 * rank:
            method = "lapack"
        else:
            method = "krylov"
    if method == "lapack":
        return truncated_svd(A, rank, compute_error=compute_error, reference_sv=reference_sv)
    if method == "gram":
        return gram_svd(A, rank, compute_error=compute_error, reference_sv=reference_sv)
    if method == "krylov":
        return block_krylov_svd(A, rank, tol=tol, seed=seed, compute_error=compute_error,
                                reference_sv=reference_sv)
    raise ValueError(f"method must be 'auto', 'lapack', 'gram' or 'krylov', got {method!r}")
