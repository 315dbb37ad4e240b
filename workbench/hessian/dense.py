"""Exact dense curvature matrices for small models: the ground truth of tests and benchmarks.

Built independently of the operators' product code: the Hessian with ``torch.func.hessian``
of the loss as a function of one flat parameter vector (all samples in one batch unless a
batch list is given, then weighted by batch size), the GGN from the full Jacobian
(``torch.func.jacrev``) and the output Hessian, the empirical Fisher from explicit
per-sample gradients. Memory O(P^2) (P parameters): a few thousand parameters in tests, the
10.5k-parameter MLP of the benchmark takes 0.9 GB in float64.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, hessian, jacrev

from workbench.hessian.data import as_batches
from workbench.hessian.operators import model_mode
from workbench.hessian.params import select_parameters


def _setup(model, data, params, dtype):
    layout = select_parameters(model, params)
    named = dict(model.named_parameters())
    first = named[layout.names[0]]
    dtype = dtype or first.dtype
    theta = torch.cat([named[n].detach().reshape(-1).to(dtype) for n in layout.names])
    others = {n: p.detach().to(dtype) for n, p in named.items() if n not in layout.names}
    others.update({n: b.detach().to(dtype) if b.is_floating_point() else b.detach()
                   for n, b in model.named_buffers()})
    batches = []
    for X, y in as_batches(data):
        X = X.to(device=first.device, dtype=dtype) if X.is_floating_point() else X
        y = y.to(device=first.device, dtype=dtype) if y.is_floating_point() else y
        batches.append((X, y))
    N = sum(X.shape[0] for X, _ in batches)
    return layout, theta, others, batches, N


def _out(model, layout, others, theta, X):
    return functional_call(model, (layout.unflatten(theta), others), (X,))


def dense_hessian(model, loss_fn, data, params=None, dtype=torch.float64,
                  chunk_size: int | None = None) -> torch.Tensor:
    """The (P, P) Hessian of the batch-size-weighted mean loss, in `dtype` (model cast to it
    functionally; the model itself is untouched), model in eval mode. ``chunk_size`` bounds
    the memory: the Hessian is then built as ``jacrev(jacrev(loss), chunk_size=...)``
    (reverse-over-reverse, symmetric so rows = columns), that many rows at a time, instead
    of one vmapped ``jacfwd(jacrev)`` over all P tangents (needed for ~10k parameters on a
    full data set). Costs P Hessian-vector products either way."""
    layout, theta, others, batches, N = _setup(model, data, params, dtype)

    def total(t):
        return sum((X.shape[0] / N) * loss_fn(_out(model, layout, others, t, X), y)
                   for X, y in batches)

    with model_mode(model, False):
        if chunk_size is None:
            return hessian(total)(theta)
        return jacrev(jacrev(total), chunk_size=chunk_size)(theta)


def dense_ggn(model, loss_fn, data, params=None, dtype=torch.float64) -> torch.Tensor:
    """The (P, P) generalized Gauss-Newton sum_b (n_b/N) J_b^T H_b J_b."""
    layout, theta, others, batches, N = _setup(model, data, params, dtype)
    G = torch.zeros(theta.numel(), theta.numel(), dtype=theta.dtype, device=theta.device)
    with model_mode(model, False):
        for X, y in batches:
            out = _out(model, layout, others, theta, X)
            J = jacrev(lambda t, X=X: _out(model, layout, others, t, X))(theta)
            J = J.reshape(-1, theta.numel())
            HL = hessian(lambda o, y=y, s=out.shape: loss_fn(o.reshape(s), y))(out.reshape(-1))
            G += (X.shape[0] / N) * J.T @ HL @ J
    return G


def dense_empirical_fisher(model, loss_fn, data, params=None,
                           dtype=torch.float64) -> torch.Tensor:
    """The (P, P) empirical Fisher (1/N) sum_i g_i g_i^T, gradients computed one sample at a
    time with torch.autograd (no vmap)."""
    layout, theta, others, batches, N = _setup(model, data, params, dtype)
    rows = []
    with model_mode(model, False):
        for X, y in batches:
            for i in range(X.shape[0]):
                t = theta.clone().requires_grad_(True)
                loss = loss_fn(_out(model, layout, others, t, X[i:i + 1]), y[i:i + 1])
                rows.append(torch.autograd.grad(loss, t)[0])
    G = torch.stack(rows)
    return G.T @ G / N
