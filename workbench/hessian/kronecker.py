"""How good are the Kronecker-factored curvature approximations that people train and prune
with? Per linear layer, the exact Gauss-Newton block of its weight against K-FAC, Shampoo
and the optimal Kronecker product ("A New Perspective on Shampoo's Preconditioner",
Morwani et al. 2024; Van Loan & Pitsianis 1993 for the optimum).

    blocks = kronecker_blocks(model, torch.nn.CrossEntropyLoss(), (X, y))
    b = blocks["0"]                      # by module name
    b.errors    # relative Frobenius error of each approximation against the exact block
    b.spectra   # top eigenvalues: exact, optimal, kfac, shampoo
    b.overlaps  # |<top eigenvector of the approximation, of the exact block>|, per rank

The GGN block of a linear layer's weight W (m x n, row-major vec) over N samples is

    H = (1/N) sum_s (g_s g_s^T) (x) (a_s a_s^T),

with a_s the layer's input and g_s = J_z^T S[:, c] the backpropagated columns of a square
root S S^T of the loss's Hessian in the outputs (s runs over samples x output columns; for
cross-entropy S = diag(sqrt p) - p sqrt(p)^T). The approximations, all B (x) A:

- K-FAC: B = (1/N) sum_s g_s g_s^T, A = (1/N_x) sum_x a_x a_x^T (independence of a and g);
- optimal: the B (x) A nearest to H in Frobenius norm, the top singular pair of the
  rearranged block R(H) = (1/N) sum_s vec(g_s g_s^T) vec(a_s a_s^T)^T, found by
  alternating power iteration (never forming H: O(S (m^2 + n^2)) per step);
- Shampoo: L = E[G G^T] = (1/N) sum_s |a_s|^2 g_s g_s^T, R = E[G^T G] (per-sample
  gradients G_s = g_s a_s^T), compared as L (x) R scaled optimally. L (x) R is exactly one
  step of that power iteration started from identities: Shampoo's preconditioner
  (L (x) R)^(-1/4) is the inverse square root of a one-step estimate of the optimum,
  whose square is the optimum's first iterate (the paper's observation, checked in tests).

Frobenius errors come from the factors alone (||B (x) A||^2 = ||B||^2 ||A||^2,
<H, B (x) A> = (1/N) sum_s (g_s^T B g_s)(a_s^T A a_s), ||H||^2 from the S x S Gram
products). The exact block's top eigenpairs come from the engine's top_eigs on its
matrix-free product; the approximations' from the factors' eigendecompositions.
Linear layers only (convolutions: later). Cost per layer: C backward passes for the g's
(C = output columns), O(S^2 (m + n)) for ||H||, O(S m n) per block product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from workbench.errors import InputFormatError

__all__ = ["KroneckerBlock", "kronecker_blocks", "layer_factors", "optimal_kronecker"]


@dataclass(frozen=True)
class LayerFactors:
    """Per-sample factors of one linear layer's GGN block: ``a`` (S x n) inputs repeated
    per output column, ``g`` (S x m) backpropagated loss-Hessian roots, ``num_samples``
    N (the block is (1/N) sum_s ...), ``inputs`` (N x n) the distinct inputs."""

    name: str
    a: torch.Tensor = field(repr=False)
    g: torch.Tensor = field(repr=False)
    inputs: torch.Tensor = field(repr=False)
    num_samples: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.g.shape[1], self.a.shape[1])

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for V of shape (m n, b) (row-major vec of m x n matrices). O(S m n b)."""
        m, n = self.shape
        Vm = V.T.reshape(-1, m, n)
        coeff = torch.einsum("sm,bmn,sn->bs", self.g, Vm, self.a)
        out = torch.einsum("bs,sm,sn->bmn", coeff, self.g, self.a) / self.num_samples
        return out.reshape(V.shape[1], m * n).T

    def dense(self) -> torch.Tensor:
        """The (m n) x (m n) block (small layers only: O((m n)^2) memory)."""
        outer = torch.einsum("si,sj,sk,sl->ikjl", self.g, self.g, self.a, self.a)
        m, n = self.shape
        return outer.reshape(m * n, m * n) / self.num_samples

    def sq_norm(self) -> float:
        """||H||_F^2 = (1/N^2) sum_{s,t} (g_s . g_t)^2 (a_s . a_t)^2. O(S^2 (m + n))."""
        total = 0.0
        step = max(1, int(2**22 // max(1, self.g.shape[0])))
        for lo in range(0, self.g.shape[0], step):
            gg = self.g[lo:lo + step] @ self.g.T
            aa = self.a[lo:lo + step] @ self.a.T
            total += float(((gg * aa) ** 2).sum())
        return total / self.num_samples**2

    def inner(self, B: torch.Tensor, A: torch.Tensor) -> float:
        """<H, B (x) A>_F = (1/N) sum_s (g_s^T B g_s)(a_s^T A a_s). O(S (m^2 + n^2))."""
        gb = ((self.g @ B) * self.g).sum(1)
        aa = ((self.a @ A) * self.a).sum(1)
        return float((gb * aa).sum()) / self.num_samples


def _loss_root(loss_fn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """S (N x C x C') with S_x S_x^T the Hessian of sample x's share of the MEAN loss in
    the outputs, times N (so the GGN of the mean loss is (1/N) sum J^T S S^T J)."""
    if isinstance(loss_fn, torch.nn.CrossEntropyLoss):
        if loss_fn.reduction != "mean" or loss_fn.weight is not None or \
                loss_fn.label_smoothing != 0.0:
            raise InputFormatError("Kronecker blocks need a plain CrossEntropyLoss (mean, "
                                   "no class weights, no label smoothing)")
        p = torch.softmax(out, dim=-1)
        sp = p.sqrt()
        return torch.diag_embed(sp) - p.unsqueeze(2) * sp.unsqueeze(1)
    from workbench.hessian.models import OneHotMSELoss

    if isinstance(loss_fn, OneHotMSELoss):  # 0.5 sum_c (z_c - t_c)^2, mean over samples
        C = out.shape[1]
        return torch.eye(C, dtype=out.dtype, device=out.device).expand(out.shape[0], C, C)
    if isinstance(loss_fn, torch.nn.MSELoss):
        if loss_fn.reduction != "mean":
            raise InputFormatError("Kronecker blocks need MSELoss(reduction='mean')")
        C = out.shape[1]
        eye = torch.eye(C, dtype=out.dtype, device=out.device) * (2.0 / C) ** 0.5
        return eye.expand(out.shape[0], C, C)
    raise InputFormatError(f"Kronecker blocks support CrossEntropyLoss and MSELoss (and the "
                           f"one-hot square loss), got "
                           f"{type(loss_fn).__name__}")


def layer_factors(model: torch.nn.Module, loss_fn, data, layers=None,
                  dtype=torch.float64) -> dict[str, LayerFactors]:
    """Per-sample factors of every ``nn.Linear`` layer's GGN block (or those named in
    `layers`), on the model's device in `dtype` (the model itself is not modified: a
    private copy is cast). `data`: (X, y) tensors. Cost: one forward pass and C backward
    passes over the data (C = output dimension)."""
    import copy

    X, y = data
    model = copy.deepcopy(model).to(dtype).eval()
    named = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    if layers is not None:
        missing = [n for n in layers if n not in named]
        if missing:
            raise InputFormatError(f"no linear layer named {missing}; the model's are "
                                   f"{list(named)}")
        named = {n: named[n] for n in layers}
    if not named:
        raise InputFormatError("the model has no nn.Linear layer")
    device = next(model.parameters()).device
    X = X.to(device=device, dtype=dtype) if X.is_floating_point() else X.to(device)
    y = y.to(device)
    inputs, outputs = {}, {}
    def keep(name):
        def hook(_mod, inp, out):
            inputs[name], outputs[name] = inp[0].detach(), out
        return hook

    hooks = [m.register_forward_hook(keep(name)) for name, m in named.items()]
    try:
        out = model(X)
    finally:
        for h in hooks:
            h.remove()
    if out.ndim != 2:
        raise InputFormatError(f"the model's output must be N x C, got shape {tuple(out.shape)}")
    N, C = out.shape
    S = _loss_root(loss_fn, out.detach(), y)              # N x C x C
    zs = [outputs[n] for n in named]
    gs: dict[str, list] = {n: [] for n in named}
    for c in range(S.shape[2]):
        grads = torch.autograd.grad(out, zs, grad_outputs=S[:, :, c].contiguous(),
                                    retain_graph=c < S.shape[2] - 1)
        for n, gz in zip(named, grads):
            gs[n].append(gz.detach().reshape(N, -1))
    result = {}
    for n in named:
        a = inputs[n].reshape(N, -1)
        g = torch.stack(gs[n], 1).reshape(N * S.shape[2], -1)   # (x, c) pairs, x-major
        result[n] = LayerFactors(n, a.repeat_interleave(S.shape[2], 0), g, a, N)
    return result


def optimal_kronecker(f: LayerFactors, iters: int = 50, tol: float = 1e-12,
                      start: tuple | None = None):
    """The B (x) A nearest to the block in Frobenius norm: alternating power iteration on
    the rearranged block from `start` (default identities). Returns (B, A, steps)."""
    m, n = f.shape
    B, A = start if start is not None else (
        torch.eye(m, dtype=f.g.dtype, device=f.g.device),
        torch.eye(n, dtype=f.a.dtype, device=f.a.device))
    prev = None
    for it in range(1, iters + 1):
        B = torch.einsum("s,si,sj->ij", ((f.a @ A) * f.a).sum(1), f.g, f.g) / f.num_samples
        B = B / torch.linalg.norm(B)
        A = torch.einsum("s,si,sj->ij", ((f.g @ B) * f.g).sum(1), f.a, f.a) / f.num_samples
        val = float(torch.linalg.norm(A))  # = the top singular value of R(H) at convergence
        if prev is not None and abs(val - prev) <= tol * val:
            return B, A, it
        prev = val
    return B, A, iters


@dataclass(frozen=True)
class KroneckerBlock:
    """One layer's comparison. ``factors``: {method: (B, A)} numpy (B m x m on the
    outputs, A n x n on the inputs; Shampoo's scaled so that B (x) A is its best multiple);
    ``errors``: {method: ||H - B (x) A||_F / ||H||_F}; ``spectra``: {method or "exact":
    top-k eigenvalues, descending}; ``overlaps``: {method: |<u_i, v_i>| for the top-k
    eigenvectors u of the approximation and v of the exact block}; ``power_steps``."""

    name: str
    shape: tuple[int, int]
    factors: dict = field(repr=False)
    errors: dict
    spectra: dict = field(repr=False)
    overlaps: dict = field(repr=False)
    power_steps: int

    def table(self):
        """One row per method: error, top eigenvalue, top-eigenvector overlap."""
        import pandas as pd

        return pd.DataFrame([{"layer": self.name, "method": m, "rel_error": e,
                              "top_eigenvalue": self.spectra[m][0],
                              "top_overlap": self.overlaps[m][0]}
                             for m, e in self.errors.items()])


def _kron_top(B: np.ndarray, A: np.ndarray, k: int):
    """Top-k eigenpairs of B (x) A from the factors' eigendecompositions."""
    lb, vb = np.linalg.eigh(B)
    la, va = np.linalg.eigh(A)
    prod = np.outer(lb, la).ravel()
    order = np.argsort(prod)[::-1][:k]
    vecs = np.stack([np.kron(vb[:, i // len(la)], va[:, i % len(la)]) for i in order], 1)
    return prod[order], vecs


def kronecker_blocks(model, loss_fn, data, layers=None, k: int = 10,
                     dtype=torch.float64) -> dict[str, KroneckerBlock]:
    """Per linear layer (or those in `layers`), the exact GGN block of the weight against
    K-FAC, Shampoo and the optimal Kronecker product (see the module docstring): errors,
    top-`k` spectra and eigenvector overlaps. Cost per layer: the factors, ~10-50 power
    steps, top_eigs on the block (tens of O(S m n) products), two small eigh's."""
    from workbench.operators.concrete import CallableOperator
    from workbench.spectral import top_eigs

    out = {}
    for name, f in layer_factors(model, loss_fn, data, layers, dtype).items():
        m, n = f.shape
        kk = int(min(k, m * n))
        norm2 = f.sq_norm()
        B_opt, A_opt, steps = optimal_kronecker(f)
        scale = f.inner(B_opt, A_opt) / float((B_opt**2).sum() * (A_opt**2).sum())
        A_opt = A_opt * scale
        B_k = f.g.T @ f.g / f.num_samples
        A_k = f.inputs.T @ f.inputs / f.inputs.shape[0]
        w = (f.a * f.a).sum(1)
        L = torch.einsum("s,si,sj->ij", w, f.g, f.g) / f.num_samples
        R = torch.einsum("s,si,sj->ij", (f.g * f.g).sum(1), f.a, f.a) / f.num_samples
        c = f.inner(L, R) / float((L**2).sum() * (R**2).sum())
        approx = {"optimal": (B_opt, A_opt), "kfac": (B_k, A_k), "shampoo": (L, R * c)}
        errors, spectra, overlaps, factors = {}, {}, {}, {}
        op = CallableOperator((m * n, m * n), matmat=f.matmat, dtype=f.g.dtype,
                              backend="torch", device=f.g.device, symmetric=True,
                              name=f"GGN block {name}")
        ev, evec = top_eigs(op, k=kk, seed=0)
        exact_vecs = np.asarray(evec.cpu() if hasattr(evec, "cpu") else evec)
        spectra["exact"] = np.asarray(ev)
        for meth, (B, A) in approx.items():
            cross = f.inner(B, A)
            sq = float((B**2).sum() * (A**2).sum())
            errors[meth] = float(np.sqrt(max(norm2 - 2 * cross + sq, 0.0) / norm2))
            Bn, An = B.cpu().numpy(), A.cpu().numpy()
            factors[meth] = (Bn, An)
            vals, vecs = _kron_top(Bn, An, kk)
            spectra[meth] = vals
            overlaps[meth] = np.abs(np.sum(vecs * exact_vecs, axis=0))
        out[name] = KroneckerBlock(name, (m, n), factors, errors, spectra, overlaps, steps)
    return out
