"""Result objects of the low-rank methods and their error against the Eckart–Young optimum.

Every method returns a :class:`LowRankResult`: the factors (in the order a user unpacks
them: ``U, s, Vt = res`` for an SVD, ``C, U, R = res`` for CUR), the rank, the parameters,
the time taken, the number of matrix-vector products, and — when the matrix is available —
an :class:`ApproxError`: the relative Frobenius and spectral errors next to the best any
rank-k matrix can do (Eckart–Young–Mirsky: the truncated SVD).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from workbench.backends import arrays as ba

# Errors are computed automatically when the matrix has at most this many entries
# (an SVD of a 1500 x 1500 matrix takes ~1 s on 2 cores).
AUTO_ERROR_MAX_ENTRIES = 2_500_000


@dataclass(frozen=True)
class ApproxError:
    """Relative errors of a rank-k approximation A_hat of A, and the optimum for rank k.

    fro = ||A - A_hat||_F / ||A||_F, spec = ||A - A_hat||_2 / ||A||_2;
    fro_opt, spec_opt: the same for the truncated SVD (sqrt(sum_{i>k} s_i^2)/||s||,
    s_{k+1}/s_1); fro_ratio = fro / fro_opt >= 1 (1 is optimal; inf when the optimum is 0
    and the approximation is not exact). max_sv_error: max_i |s_hat_i - s_i| / s_i over the
    top k when the method estimates singular values, else None.
    """

    fro: float
    spec: float
    fro_opt: float
    spec_opt: float
    max_sv_error: float | None = None

    @property
    def fro_ratio(self) -> float:
        return _ratio(self.fro, self.fro_opt)

    @property
    def spec_ratio(self) -> float:
        return _ratio(self.spec, self.spec_opt)

    def as_dict(self) -> dict[str, float | None]:
        return dict(fro=self.fro, spec=self.spec, fro_opt=self.fro_opt,
                    spec_opt=self.spec_opt, fro_ratio=self.fro_ratio,
                    spec_ratio=self.spec_ratio, max_sv_error=self.max_sv_error)


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a <= 1e-12 else float("inf")


@dataclass(frozen=True)
class LowRankResult:
    """A rank-k approximation A ~ product of ``factors``.

    Attributes
    ----------
    method : name of the method ("svd", "randomized", "krylov", "cur", "nystrom", ...)
    rank : k
    factors : dict name -> array, in multiplication order; ``iter(result)`` yields the
        values (``U, s, Vt = result``). A 1-D factor (singular values) scales the columns of
        the factor before it. Bases stay in the input's backend (numpy or torch).
    shape : (m, n) of the approximated matrix
    params : the parameters that made it
    seconds : wall time of the computation (errors excluded)
    num_matvecs : products with A or A^T (columns applied), None for dense direct methods
    error : ApproxError against the Eckart–Young optimum, None when not computed
    info : extra method-specific values (selected columns, residuals, iterations, ...)
    """

    method: str
    rank: int
    factors: dict[str, Any]
    shape: tuple[int, int]
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    num_matvecs: int | None = None
    error: ApproxError | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.factors.values())

    @property
    def singular_values(self) -> np.ndarray | None:
        s = self.factors.get("s")
        return None if s is None else ba.to_numpy(s)

    @property
    def num_parameters(self) -> int:
        """Numbers stored by the factors (for CUR counting C, U and R)."""
        return int(sum(int(np.prod(f.shape)) for f in self.factors.values()))

    @property
    def compression_ratio(self) -> float:
        """m*n / numbers stored: how many times smaller the factors are than A."""
        return self.shape[0] * self.shape[1] / max(self.num_parameters, 1)

    def left_right(self, rank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(L, R) numpy float64 with A_hat = L @ R. For SVD-type results (factors U, s, Vt
        ordered by decreasing s) ``rank`` < k truncates by slicing: O(1) extra work beyond
        the product, which is what lets a dashboard slider move instantly."""
        f = {k: np.asarray(ba.to_numpy(v), dtype=np.float64) for k, v in self.factors.items()}
        if rank is not None and rank != self.rank:
            if "s" not in f or rank > self.rank or rank < 1:
                raise ValueError(f"can only truncate an SVD-type result to 1..{self.rank}, "
                                 f"got rank {rank}")
            r = int(rank)
            return f["U"][:, :r] * f["s"][:r], f["Vt"][:r]
        vals = list(f.values())
        L = vals[0]
        i = 1
        while i < len(vals) - 1:
            nxt = vals[i]
            L = L * nxt if nxt.ndim == 1 else L @ nxt
            i += 1
        return L, vals[-1]

    def approx(self, rank: int | None = None) -> np.ndarray:
        """The dense approximation (m x n numpy float64); ``rank`` truncates SVD results."""
        L, R = self.left_right(rank)
        return L @ R

    def truncate(self, rank: int) -> LowRankResult:
        """The same SVD-type result cut to a smaller rank (no recomputation, error dropped)."""
        if "s" not in self.factors or "U" not in self.factors:
            raise ValueError(f"{self.method} results cannot be truncated by slicing")
        if not 1 <= rank <= self.rank:
            raise ValueError(f"rank must be between 1 and {self.rank}, got {rank}")
        U, s, Vt = self.factors["U"], self.factors["s"], self.factors["Vt"]
        return replace(self, rank=int(rank), factors={"U": U[:, :rank], "s": s[:rank],
                                                      "Vt": Vt[:rank]}, error=None)

    def with_error(self, A, reference_sv: np.ndarray | None = None) -> LowRankResult:
        """A copy with ``error`` computed against the matrix A (numpy/torch/sparse)."""
        return replace(self, error=approximation_error(A, self, reference_sv))


# ---------------------------------------------------------------------- exact spectra
_SV_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_SV_LOCK = threading.Lock()


def _digest(A: np.ndarray) -> str:
    a = np.ascontiguousarray(A)
    return hashlib.blake2b(a.view(np.uint8).ravel(), digest_size=16).hexdigest() + str(a.shape)


def exact_singular_values(A) -> np.ndarray:
    """All singular values of A (numpy float64, decreasing), by LAPACK; cached by the
    matrix's content (8 entries). Costs O(m n min(m, n)) the first time."""
    import scipy.linalg

    An = np.asarray(ba.to_numpy(A.toarray() if hasattr(A, "toarray") else A),
                    dtype=np.float64)
    key = _digest(An)
    with _SV_LOCK:
        if key in _SV_CACHE:
            _SV_CACHE.move_to_end(key)
            return _SV_CACHE[key]
    s = scipy.linalg.svdvals(An, check_finite=False)
    with _SV_LOCK:
        _SV_CACHE[key] = s
        while len(_SV_CACHE) > 8:
            _SV_CACHE.popitem(last=False)
    return s


def spectral_norm(M: np.ndarray) -> float:
    """||M||_2 of a dense matrix: LAPACK for small ones, Lanczos (svds, tol 1e-6) else."""
    if min(M.shape) <= 400:
        import scipy.linalg

        return float(scipy.linalg.svdvals(M, check_finite=False)[0]) if M.size else 0.0
    from scipy.sparse.linalg import svds

    v0 = np.random.default_rng(0).standard_normal(min(M.shape))
    return float(svds(M, k=1, tol=1e-6, v0=v0, return_singular_vectors=False)[0])


def relative_fro_error(A: np.ndarray, X: np.ndarray, norm: float | None = None) -> float:
    """||A - X||_F / ||A||_F for dense numpy A and X of one shape: THE Frobenius error of
    the package (approximations, rank paths, error curves, completion). `norm`: ||A||_F
    when known (sqrt(sum s_i^2) from the singular values, or precomputed in a loop), else
    computed. Returns a float; ||A - X||_F itself when the norm is 0 (0.0 for X = A = 0).
    Costs one pass over the m n entries (plus one more without `norm`)."""
    diff = float(np.linalg.norm(np.asarray(A) - np.asarray(X)))
    norm = float(np.linalg.norm(A)) if norm is None else float(norm)
    return diff / norm if norm > 0 else diff


def error_ratio(error: float, optimum_error: float) -> float:
    """`error` / `optimum_error` (>= 1 against the Eckart–Young optimum; 1 is optimal): 1.0
    when both are 0, inf when only the optimum is 0."""
    return _ratio(error, optimum_error)


def optimum(sv: np.ndarray, rank: int) -> tuple[float, float]:
    """(relative Frobenius, relative spectral) error of the best rank-`rank` approximation
    of a matrix with singular values `sv` (Eckart–Young–Mirsky)."""
    sv = np.asarray(sv, dtype=np.float64)
    tot = float(np.sqrt(np.sum(sv**2)))
    if tot == 0:
        return 0.0, 0.0
    fro = float(np.sqrt(np.sum(sv[rank:] ** 2))) / tot
    spec = float(sv[rank] / sv[0]) if rank < len(sv) else 0.0
    return fro, spec


def approximation_error(A, result: LowRankResult, reference_sv: np.ndarray | None = None,
                        ) -> ApproxError:
    """Relative Frobenius / spectral error of ``result`` against A and the Eckart–Young
    optimum. ``reference_sv``: all singular values of A if already known (else computed,
    O(m n min(m, n)), cached). Costs one dense product of the factors and a Lanczos run
    on the residual."""
    An = np.asarray(ba.to_numpy(A.toarray() if hasattr(A, "toarray") else A),
                    dtype=np.float64)
    sv = exact_singular_values(An) if reference_sv is None else np.asarray(reference_sv)
    X = result.approx()
    fro = relative_fro_error(An, X, float(np.sqrt(np.sum(sv**2))))
    R = An - X
    spec = spectral_norm(R) / float(sv[0]) if sv[0] > 0 else 0.0
    fro_opt, spec_opt = optimum(sv, result.rank)
    sv_err = None
    s_hat = result.singular_values
    if s_hat is not None:
        k = min(len(s_hat), result.rank)
        ref = sv[:k]
        nz = ref > 0
        sv_err = float(np.max(np.abs(s_hat[:k][nz] - ref[nz]) / ref[nz])) if nz.any() else 0.0
    return ApproxError(fro=fro, spec=spec, fro_opt=fro_opt, spec_opt=spec_opt,
                       max_sv_error=sv_err)


def should_compute_error(A, compute_error: bool | str) -> bool:
    """Resolve compute_error="auto": dense inputs of moderate size only."""
    if compute_error == "auto":
        shape = getattr(A, "shape", None)
        if shape is None or not hasattr(A, "ndim"):
            return False
        from workbench.operators import LinearOperator

        if isinstance(A, LinearOperator):
            return False
        return int(shape[0]) * int(shape[1]) <= AUTO_ERROR_MAX_ENTRIES
    return bool(compute_error)
