"""Randomized range finder, SVD and symmetric eigendecomposition (Halko, Martinsson &
Tropp 2011), on any operator; sketches stay in the operator's backend, the small (l x l)
factorizations run in numpy float64."""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla

from workbench.backends import arrays as ba
from workbench.errors import RankError, WorkbenchError
from workbench.operators import aslinearoperator
from workbench.spectral._checks import as_square_operator, check_rank, check_which, select
from workbench.spectral.results import EigResult, SVDResult


def auto_power_iters(rank: int, shape: tuple[int, int]) -> int:
    """Power iterations for ``power_iters="auto"``: scikit-learn's rule — 7 when the rank is
    under a tenth of min(m, n) (where a slowly decaying spectrum needs them), else 4."""
    return 7 if rank < 0.1 * min(shape) else 4


def auto_oversample(rank: int) -> int:
    """Oversampling for ``oversample="auto"``: max(15, rank // 4). Five to rank/4 more
    columns than scikit-learn's 10 shrink the slow-decay error factor (s_{l+1}/s_k)^(2q+1)
    by 2-6x for 10-25% more products (measured on (1+i)^-0.6 spectra, ranks 10-100)."""
    return max(15, int(rank) // 4)


def resolve_sketch(rank: int, shape: tuple[int, int], oversample, power_iters
                   ) -> tuple[int, int]:
    """(oversample, power_iters) with "auto" resolved; RankError for bad values."""
    if oversample == "auto":
        oversample = auto_oversample(rank)
    if power_iters == "auto":
        power_iters = auto_power_iters(rank, shape)
    if isinstance(oversample, str) or isinstance(power_iters, str):
        raise RankError(f"oversample and power_iters must be integers or 'auto', got "
                        f"{oversample!r}, {power_iters!r}")
    return _check_oversample(oversample, power_iters)


def _check_oversample(oversample, power_iters):
    if int(oversample) < 0 or int(power_iters) < 0:
        raise RankError(f"oversample and power_iters must be >= 0, got {oversample}, "
                        f"{power_iters}")
    return int(oversample), int(power_iters)


def randomized_range_finder(op, rank: int, oversample: int | str = 10,
                            power_iters: int | str = 2, seed: int | None = 0):
    """An orthonormal basis Q (m x l, l = min(rank + oversample, m, n), op backend) whose
    span approximately contains the top `rank` left singular vectors of `op`.

    Subspace iteration with re-orthonormalization between products (power_iters times)
    sharpens the basis when the singular values decay slowly.

    Cost: l * (1 + 2 power_iters) products (half of the power-iteration ones with A^T).
    Raises RankError unless 1 <= rank <= min(m, n).
    """
    op = aslinearoperator(op)
    m, n = op.shape
    rank = check_rank(rank, min(m, n), "rank", "singular directions")
    oversample, power_iters = resolve_sketch(rank, (m, n), oversample, power_iters)
    ell = min(rank + oversample, m, n)
    rng = np.random.default_rng(seed)
    Q, _ = ba.qr(op.matmat(op.random_block(ell, rng)))
    for _ in range(power_iters):
        Z, _ = ba.qr(op.rmatmat(Q))
        Q, _ = ba.qr(op.matmat(Z))
    return Q


def randomized_svd(op, rank: int, oversample: int | str = "auto",
                   power_iters: int | str = "auto", seed: int | None = 0) -> SVDResult:
    """Truncated SVD A ~ U diag(s) Vt of rank `rank` by the randomized range finder.

    Defaults ("auto"): power_iters by scikit-learn's rule (:func:`auto_power_iters`: 7
    when rank < min(m, n) / 10, else 4) and oversample = max(15, rank // 4)
    (:func:`auto_oversample`): singular values at least as accurate as scikit-learn's
    ``randomized_svd`` defaults on fast, slow and flat-then-drop spectra.

    Returns SVDResult (``U, s, Vt = result``): U (m x rank), Vt (rank x n) in the op's
    backend (a torch op's device: the small SVD runs there too, in float64), s (rank,)
    numpy descending, num_matvecs, seconds.

    Cost: l (1 + 2 power_iters) + l products, l = rank + oversample; O((m + n) l^2) flops.
    """
    t0 = time.perf_counter()
    op = aslinearoperator(op)
    before = op.num_matvecs
    m, n = op.shape
    rank = check_rank(rank, min(m, n), "rank", "singular directions")
    oversample, power_iters = resolve_sketch(rank, (m, n), oversample, power_iters)
    Q = randomized_range_finder(op, rank, oversample, power_iters, seed)
    Bt = op.rmatmat(Q)  # (n x l) = (Q^T A)^T
    Q2, R2 = ba.qr(Bt)  # B = R2^T Q2^T
    if ba.is_torch(R2):
        import torch

        Uh, s_dev, Wt = torch.linalg.svd(R2.T.to(torch.float64))  # on R2's device
        U = Q @ Uh[:, :rank].to(Q.dtype)
        Vt = (Q2 @ Wt[:rank].T.to(Q.dtype)).T
        s = ba.to_numpy(s_dev).astype(np.float64)
    else:
        Uh, s, Wt = sla.svd(ba.to_numpy(R2).astype(np.float64).T)  # R2^T = Uh s Wt
        U = Q @ op.new_block(Uh[:, :rank])
        Vt = (Q2 @ op.new_block(Wt[:rank].T)).T
    return SVDResult(U=U, s=s[:rank].copy(), Vt=Vt, num_matvecs=op.num_matvecs - before,
                     seconds=time.perf_counter() - t0, rank=rank, oversample=oversample,
                     power_iters=power_iters, seed=seed)


def randomized_eigh(op, rank: int, oversample: int = 10, power_iters: int = 2,
                    seed: int | None = 0, which: str = "LM") -> EigResult:
    """`rank` eigenpairs of a symmetric operator by Rayleigh-Ritz on a randomized range
    basis Q: eigh(Q^T A Q). Captures the largest-magnitude eigenvalues (which="LM", default,
    descending |.|); which="LA"/"SA" select among the l Ritz pairs (sound for PSD / NSD
    operators).

    Returns EigResult (``vals, vecs = result``) with true residuals ||A v - lambda v||
    (computed from the A Q product already made, no extra matvecs); converged is True when
    they are <= 1e-6 * max |lambda| (randomized methods have no stopping rule; check the
    residuals).

    Cost: l (1 + 2 power_iters) + l products, l = rank + oversample.
    """
    t0 = time.perf_counter()
    op = as_square_operator(op, "randomized_eigh", symmetric=True)
    which = check_which(which)
    if which == "BE":
        raise WorkbenchError("randomized_eigh supports which='LM', 'LA' or 'SA'")
    n = op.shape[0]
    rank = check_rank(rank, n, "rank")
    before = op.num_matvecs
    Q = randomized_range_finder(op, rank, oversample, power_iters, seed)
    AQ = op.matmat(Q)
    C = ba.to_numpy(Q.T @ AQ).astype(np.float64)
    theta, S = sla.eigh((C + C.T) / 2)
    want = select(theta, rank, which)
    Sw = op.new_block(S[:, want])
    vecs = Q @ Sw
    vals = theta[want].copy()
    R = AQ @ Sw - vecs * op.new_block(vals[None, :])
    res = ba.to_numpy(ba.norm(R, axis=0)).astype(np.float64)
    scale = float(np.max(np.abs(theta))) if len(theta) else 0.0
    tol = 1e-6
    return EigResult(values=vals, vectors=vecs, residuals=res,
                     converged=bool(np.all(res <= tol * scale)),
                     num_matvecs=op.num_matvecs - before, seconds=time.perf_counter() - t0,
                     k=rank, which=which, tol=tol, method="randomized-eigh", scale=scale,
                     seed=seed)
