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


def _act_derivatives(act: torch.nn.Module, a: torch.Tensor):
    """(h, h', h'') of an elementwise activation at pre-activations a."""
    if isinstance(act, torch.nn.Tanh):
        h = torch.tanh(a)
        d1 = 1 - h * h
        return h, d1, -2 * h * d1
    if isinstance(act, torch.nn.Sigmoid):
        h = torch.sigmoid(a)
        d1 = h * (1 - h)
        return h, d1, d1 * (1 - 2 * h)
    if isinstance(act, torch.nn.ReLU):
        return torch.relu(a), (a > 0).to(a.dtype), torch.zeros_like(a)
    from workbench.errors import InputFormatError

    raise InputFormatError(f"closed-form Hessian supports Tanh, Sigmoid and ReLU, got {act}")


def dense_hessian_two_layer(model, data, dtype=torch.float64) -> torch.Tensor:
    """The (P, P) Hessian of the mean cross-entropy of ``Sequential(Linear, activation,
    Linear)`` (activation Tanh, Sigmoid or ReLU), in closed form, model in eval mode.

    With a = W1 x + b1, h = act(a), f = W2 h + b2, p = softmax(f), r = p - onehot(y) and
    S = diag(p) - p p^T, the Hessian is the Gauss-Newton part (1/N) sum_i J_i^T S_i J_i
    plus (1/N) sum_i sum_c r_ic d^2 f_c / d theta^2, whose only non-zero blocks are
    (W1, W1) (through act'') and (W1, W2) (through act'). Every block is one matrix product
    over the samples (the (W1, W1) block: (m^2 x N) @ (N x (d+1)^2)), so it costs
    O(N m^2 d^2) flops instead of P Hessian-vector products: ~10 s instead of several
    minutes for the benchmark's 64-140-10 MLP. Memory ~3 x P^2 numbers. The tests check it
    against ``dense_hessian``. Parameter order: model.named_parameters() (0.weight,
    0.bias, 2.weight, 2.bias)."""
    from workbench.errors import InputFormatError

    mods = list(model.children())
    if not (len(mods) == 3 and isinstance(mods[0], torch.nn.Linear)
            and isinstance(mods[2], torch.nn.Linear)):
        raise InputFormatError("closed-form Hessian needs Sequential(Linear, activation, "
                               "Linear)")
    l1, act, l2 = mods
    dev = l1.weight.device
    X = torch.cat([b[0] for b in as_batches(data)]).to(device=dev, dtype=dtype)
    X = X.reshape(-1, l1.in_features)
    y = torch.cat([b[1] for b in as_batches(data)])
    N, d = X.shape
    m, C = l1.out_features, l2.out_features
    W2 = l2.weight.detach().to(dtype)
    with torch.no_grad():
        a = X @ l1.weight.detach().to(dtype).T + l1.bias.detach().to(dtype)
        h, d1, d2 = _act_derivatives(act, a)
        f = h @ W2.T + l2.bias.detach().to(dtype)
        p = torch.softmax(f, dim=1)
        r = p.clone()
        dev = X.device
        r[torch.arange(N, device=dev), y.to(dev)] -= 1
        S = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]          # (N, C, C)
        u = torch.cat([X, torch.ones(N, 1, dtype=dtype, device=dev)], dim=1)  # (N, d+1)
        v = torch.cat([h, torch.ones(N, 1, dtype=dtype, device=dev)], dim=1)  # (N, m+1)
        G = W2[None] * d1[:, None, :]                                     # df/da (N, C, m)
        GS = torch.einsum("icj,icd->ijd", G, S)                           # G^T S (N, m, C)
        M = torch.einsum("ijd,idk->ijk", GS, G)                           # G^T S G (N, m, m)
        q = (r @ W2) * d2                                                 # (N, m)
        M = M + torch.diag_embed(q)
        D1, D2 = m * (d + 1), C * (m + 1)
        uu = (u[:, :, None] * u[:, None, :]).reshape(N, -1)
        A = (M.reshape(N, -1).T @ uu).reshape(m, m, d + 1, d + 1)
        A = A.permute(0, 2, 1, 3).reshape(D1, D1)                         # (j,k),(j',k')
        # (W1, W2): G^T S u v^T (GGN) + r_c' h'_j u_k [l = j] (residual)
        B = (GS.reshape(N, -1).T @ (u[:, :, None] * v[:, None, :]).reshape(N, -1))
        B = B.reshape(m, C, d + 1, m + 1).permute(0, 2, 1, 3).reshape(D1, D2)
        T = torch.einsum("ic,ij,ik->jkc", r, d1, u)                       # (m, d+1, C)
        Bv = B.reshape(m, d + 1, C, m + 1)
        idx = torch.arange(m, device=dev)
        Bv[idx, :, :, idx] += T
        E = (S.reshape(N, -1).T @ (v[:, :, None] * v[:, None, :]).reshape(N, -1))
        E = E.reshape(C, C, m + 1, m + 1).permute(0, 2, 1, 3).reshape(D2, D2)
        Haug = torch.cat([torch.cat([A, B], 1), torch.cat([B.T, E], 1)], 0) / N
    # augmented order [(j, k<d) | (j, d) bias] x [(c, l<m) | (c, m) bias] -> named order
    j1, k1 = torch.meshgrid(torch.arange(m), torch.arange(d + 1), indexing="ij")
    pos1 = torch.where(k1 < d, j1 * d + k1, m * d + j1).reshape(-1)
    c2, l2i = torch.meshgrid(torch.arange(C), torch.arange(m + 1), indexing="ij")
    off = m * d + m
    pos2 = torch.where(l2i < m, off + c2 * m + l2i, off + C * m + c2).reshape(-1)
    perm = torch.empty(D1 + D2, dtype=torch.long)
    perm[pos1] = torch.arange(D1)
    perm[pos2] = D1 + torch.arange(D2)
    perm = perm.to(dev)
    return Haug[perm][:, perm]
