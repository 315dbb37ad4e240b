"""M-FAC: matrix-free inverse empirical-Fisher products (Frantar, Kurtic & Alistarh,
"M-FAC: Efficient Matrix-Free Approximations of Second-Order Information", 2021).

The empirical Fisher of m gradients g_1..g_m (rows of G, m x d) with damping lambda,

    F = lambda I + (1/m) sum_i g_i g_i^T = lambda I + G^T G / m,

is never formed. Its inverse follows from the Woodbury identity,

    F^{-1} = (1/lambda) (I - G^T K^{-1} G),   K = m lambda I + G G^T = L L^T,

so with W = L^{-1} G (m x d, computed once):

    F^{-1} v       = (v - W^T (W v)) / lambda          O(d m) per vector
    [F^{-1}]_{jk}  = (delta_jk - W[:, j] . W[:, k]) / lambda      O(m) per entry
    diag(F^{-1})   = (1 - colsum(W * W)) / lambda      O(d m)

after an O(d m^2 + m^3) set-up (the m x m Gram matrix G G^T, its Cholesky factor, one
triangular solve). This is the paper's static algorithm: its Sherman-Morrison recursion
over the gradients builds exactly this factorization of K, one row at a time, and the
Cholesky routine of the linear-algebra library does it in one blocked call. Everything
stays on the device of the gradients (torch, CPU or CUDA).

``SlidingMFAC`` is the paper's dynamic variant for optimization: a window of the last m
gradients; adding one costs O(d m) for the new row of G G^T plus an O(m^3) refactorization
(m is small: 8-1024), never a pass over all d x m entries again.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.errors import InputFormatError, ShapeError

__all__ = ["MFAC", "SlidingMFAC", "mfac_from_model"]


def _as_tensor(x, dtype=None, device=None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InputFormatError(f"expected a torch tensor or numpy array, got {type(x).__name__}")
    return x.to(dtype=dtype or x.dtype, device=device or x.device)


class MFAC:
    """The damped empirical Fisher of the gradients `grads` (m x d: one gradient a row),
    with inverse products in O(d m) (see the module docstring).

    ``matvec(v)`` = F v, ``inverse_matvec(v)`` = F^{-1} v (v of shape (d,) or (d, b)),
    ``inverse_entry(j, k)``, ``inverse_diagonal()``, ``operator()`` / ``inverse_operator()``
    as engine LinearOperators (so top_eigs / spectral_density run on them). Set-up cost
    O(d m^2 + m^3); memory 2 d m (G and W)."""

    def __init__(self, grads, damping: float = 1e-4):
        G = _as_tensor(grads)
        if G.ndim != 2 or G.shape[0] < 1 or G.shape[1] < 1:
            raise ShapeError(f"grads must be an m x d matrix (one gradient a row), got shape "
                             f"{tuple(G.shape)}")
        if not G.dtype.is_floating_point:
            G = G.double()
        if not torch.isfinite(G).all():
            raise InputFormatError("grads hold NaN or inf values")
        if not damping > 0:
            raise InputFormatError(f"damping must be > 0 (it keeps F invertible), got {damping}")
        self.G, self.damping = G, float(damping)
        self.m, self.d = G.shape
        self._factor(G @ G.T)

    def _factor(self, gram: torch.Tensor) -> None:
        K = gram + self.m * self.damping * torch.eye(self.m, dtype=gram.dtype,
                                                     device=gram.device)
        self.L = torch.linalg.cholesky(K)
        self.W = torch.linalg.solve_triangular(self.L, self.G, upper=False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.d, self.d)

    def _vec(self, v) -> tuple[torch.Tensor, bool]:
        v = _as_tensor(v, dtype=self.G.dtype, device=self.G.device)
        if v.shape[0] != self.d or v.ndim > 2:
            raise ShapeError(f"expected a vector of length {self.d} or a {self.d} x b block, "
                             f"got shape {tuple(v.shape)}")
        return (v.unsqueeze(1), True) if v.ndim == 1 else (v, False)

    def matvec(self, v) -> torch.Tensor:
        """F v = lambda v + G^T (G v) / m. O(d m) per vector."""
        V, one = self._vec(v)
        out = self.damping * V + self.G.T @ (self.G @ V) / self.m
        return out[:, 0] if one else out

    def inverse_matvec(self, v) -> torch.Tensor:
        """F^{-1} v = (v - W^T (W v)) / lambda. O(d m) per vector, no solve."""
        V, one = self._vec(v)
        out = (V - self.W.T @ (self.W @ V)) / self.damping
        return out[:, 0] if one else out

    def inverse_entry(self, j: int, k: int) -> float:
        """[F^{-1}]_{jk}: one dot product of two columns of W. O(m)."""
        j, k = int(j), int(k)
        if not (0 <= j < self.d and 0 <= k < self.d):
            raise ShapeError(f"entry ({j}, {k}) outside a {self.d} x {self.d} matrix")
        val = (float(j == k) - torch.dot(self.W[:, j], self.W[:, k])) / self.damping
        return float(val)

    def inverse_diagonal(self) -> torch.Tensor:
        """diag(F^{-1}) (length d; the saliencies of Optimal Brain Surgeon pruning are
        w_j^2 / (2 [F^{-1}]_jj)). O(d m)."""
        return (1.0 - (self.W * self.W).sum(0)) / self.damping

    def operator(self):
        """F as an engine LinearOperator (symmetric, on the gradients' device)."""
        return self._as_operator(self.matvec, "M-FAC Fisher")

    def inverse_operator(self):
        """F^{-1} as an engine LinearOperator."""
        return self._as_operator(self.inverse_matvec, "M-FAC inverse Fisher")

    def _as_operator(self, fn, name: str):
        from workbench.operators.concrete import CallableOperator

        return CallableOperator(self.shape, matmat=fn, dtype=self.G.dtype, backend="torch",
                                device=self.G.device, symmetric=True, name=name)

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues of F, descending: lambda + (eigenvalues of G G^T) / m for the
        top min(m, d), lambda for the rest (reported once: the multiplicity is d - m).
        O(m^3)."""
        top = torch.linalg.eigvalsh(self.G @ self.G.T).flip(0)[:min(self.m, self.d)]
        return (self.damping + top.clamp_min(0) / self.m).cpu().numpy()


class SlidingMFAC(MFAC):
    """M-FAC over a sliding window of the last `window` gradients (the optimizer variant):
    ``update(g)`` adds a gradient (dropping the oldest once the window is full) and
    refactors; ``step(g)`` adds it and returns the preconditioned direction F^{-1} g.
    Cost per update: O(d m) for the new Gram row + O(m^3) for the factorization."""

    def __init__(self, window: int, dim: int, damping: float = 1e-4,
                 dtype=torch.float64, device=None):
        if int(window) < 1 or int(dim) < 1:
            raise InputFormatError(f"window and dim must be >= 1, got {window}, {dim}")
        self.window, self.d, self.damping = int(window), int(dim), float(damping)
        if not damping > 0:
            raise InputFormatError(f"damping must be > 0, got {damping}")
        self._buf = torch.zeros(self.window, self.d, dtype=dtype, device=device)
        self._gram = torch.zeros(self.window, self.window, dtype=dtype, device=device)
        self._count = 0  # gradients seen
        self.m = 0
        self.G = self._buf[:0]
        self.W = self.G

    def update(self, g) -> None:
        """Add gradient `g` (length d) to the window. O(d m + m^3)."""
        g = _as_tensor(g, dtype=self._buf.dtype, device=self._buf.device).reshape(-1)
        if g.shape[0] != self.d:
            raise ShapeError(f"gradient of length {g.shape[0]}, expected {self.d}")
        if not torch.isfinite(g).all():
            raise InputFormatError("the gradient holds NaN or inf values")
        slot = self._count % self.window
        self._buf[slot] = g
        row = self._buf @ g                      # O(d m): the only pass over the window
        self._gram[slot, :] = row
        self._gram[:, slot] = row
        self._count += 1
        self.m = min(self._count, self.window)
        order = self._order()
        self.G = self._buf[order]
        self._factor(self._gram[order][:, order])

    def _order(self) -> torch.Tensor:
        """Window slots oldest first (the factorization is order-independent; keeping the
        arrival order makes G's rows the gradients in time)."""
        if self._count <= self.window:
            idx = list(range(self._count))
        else:
            start = self._count % self.window
            idx = [(start + i) % self.window for i in range(self.window)]
        return torch.tensor(idx, device=self._buf.device)

    def step(self, g) -> torch.Tensor:
        """Add `g` and return F^{-1} g (the M-FAC optimizer's update direction)."""
        self.update(g)
        return self.inverse_matvec(_as_tensor(g, dtype=self._buf.dtype,
                                              device=self._buf.device).reshape(-1))


def mfac_from_model(model, loss_fn, data, damping: float = 1e-4, params=None,
                    num_grads: int | None = None, **kw) -> MFAC:
    """M-FAC of the empirical Fisher of `model` on `data`: the per-sample gradients of a
    fixed random subset of `num_grads` samples (drawn with keyword `seed`; all samples
    when None), formed with vmap(grad) by
    :class:`workbench.hessian.FisherOperator` (same `params` selection and keywords), on
    the model's device. Cost: one vmapped backward pass per sample + the M-FAC set-up."""
    from workbench.hessian.operators import fisher_operator

    op = fisher_operator(model, loss_fn, data, params,
                         subset=num_grads, **kw)
    rows = [op.per_sample_gradients(X, y) for X, y in op.batches]
    return MFAC(torch.cat(rows, 0), damping=damping)
