"""Curvature operators of a torch model's loss: Hessian, Gauss-Newton (GGN) and Fisher.

Each is a symmetric ``workbench.operators.LinearOperator`` (backend "torch", the dtype and
device of the model's parameters) on the flat vector of the selected parameters, averaged
exactly over the data set: with mean-reduced batch losses ``L_b`` on batches of sizes
``n_b`` (N samples in all) the full-data loss is ``L = sum_b (n_b / N) L_b`` and every
operator is the same weighted sum of per-batch operators, so a short last batch counts for
what it holds.

No side effects on the user's model: the parameters are copied (the operator is the
curvature at the parameters it was built with), the model runs in eval mode during each
product unless ``train_mode=True`` (the modes of all submodules are restored afterwards),
buffers are copied before a train-mode forward so BatchNorm statistics are not updated, no
``.grad`` is written and no autograd graph outlives a product (except with
``hvp="cached"``, which keeps the double-backward graph of every batch inside the
operator, on its private copies). With ``train_mode=True`` and Dropout every product draws
new masks (shared by the vectors of one block), so the operator is random (except with
``hvp="cached"``, which keeps the masks of the graph it built first): eigensolvers assume
a fixed matrix, so prefer eval mode for spectra.

Costs (measured by ``python -m benchmarks hessian``, docs/hessian.md): with the default
cached graph one Hessian-vector product costs 1.4-1.8x one gradient over the data;
torch.func forward-over-reverse costs ~5x for one vector and ~1.4x per vector in vmapped
blocks of 16.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, jvp, vjp, vmap

from workbench.errors import InputFormatError
from workbench.hessian.data import as_batches
from workbench.hessian.params import ParameterLayout, select_parameters
from workbench.operators.base import LinearOperator

HVP_METHODS = ("auto", "cached", "fwd_rev", "rev_rev", "loop")
#: "auto" keeps graphs ("cached") while num_samples * num_params stays below this
AUTO_CACHE_LIMIT = 5e8
FISHER_TYPES = ("empirical", "mc", "true")

_model_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _lock_for(model: nn.Module) -> threading.RLock:
    with _locks_guard:
        lock = _model_locks.get(model)
        if lock is None:
            lock = _model_locks[model] = threading.RLock()
        return lock


@contextmanager
def model_mode(model: nn.Module, train: bool = False):
    """Run `model` in eval mode (train mode if `train`), then restore every submodule's
    ``training`` flag. Holds a per-model lock so concurrent operators do not race."""
    with _lock_for(model):
        before = {m: m.training for m in model.modules()}
        model.train(train)
        try:
            yield
        finally:
            for m, flag in before.items():
                m.training = flag


def is_cross_entropy(loss_fn) -> bool:
    """True for ``nn.CrossEntropyLoss()`` (mean reduction, no weights, no smoothing) and
    ``torch.nn.functional.cross_entropy``: the losses whose likelihood is the categorical
    distribution of the softmax, for which MC/true Fisher are defined here."""
    if loss_fn is nn.functional.cross_entropy:
        return True
    return (isinstance(loss_fn, nn.CrossEntropyLoss) and loss_fn.reduction == "mean"
            and loss_fn.weight is None and loss_fn.label_smoothing == 0.0)


class CurvatureOperator(LinearOperator):
    """Shared machinery: parameter selection, data batches, exact batch weights, model-state
    hygiene, flat <-> per-tensor vectors. Subclasses implement ``_batch_matmat``."""

    kind = "curvature"

    def __init__(self, model: nn.Module, loss_fn, data, params=None, *,
                 batch_size: int | None = None, subset=None, seed: int = 0,
                 train_mode: bool = False, chunk_size: int | None = None,
                 name: str | None = None):
        if not isinstance(model, nn.Module):
            raise InputFormatError(f"model must be a torch.nn.Module, got {type(model)}")
        if not callable(loss_fn):
            raise InputFormatError("loss_fn must be callable: loss_fn(outputs, targets)")
        self.layout: ParameterLayout = select_parameters(model, params)
        named = dict(model.named_parameters())
        first = named[self.layout.names[0]]
        dtype, device = first.dtype, first.device
        if not dtype.is_floating_point:
            raise InputFormatError(f"parameters must be floating point, got {dtype}")
        super().__init__((self.layout.size, self.layout.size), dtype, "torch", device,
                         symmetric=True, name=name or type(self).__name__)
        self.model, self.loss_fn = model, loss_fn
        self.train_mode, self.chunk_size, self.seed = bool(train_mode), chunk_size, seed
        # private copies: the operator is the curvature at these parameters
        self.params = {n: named[n].detach().clone() for n in self.layout.names}
        self.frozen = {n: p.detach() for n, p in named.items() if n not in self.params}
        self.buffers = {n: b.detach() for n, b in model.named_buffers()}
        self.batches = []
        for X, y in as_batches(data, batch_size=batch_size, subset=subset, seed=seed):
            X = X.to(device=device, dtype=dtype) if X.is_floating_point() else X.to(device)
            y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)
            self.batches.append((X, y))
        sizes = [X.shape[0] for X, _ in self.batches]
        self.num_samples = int(sum(sizes))
        self.batch_weights = [s / self.num_samples for s in sizes]

    # ------------------------------------------------------------------ model calls
    def _others(self) -> dict:
        bufs = self.buffers
        if self.train_mode:  # train-mode BatchNorm updates running stats in place
            bufs = {n: b.clone() for n, b in bufs.items()}
        return {**self.frozen, **bufs}

    def forward(self, params: dict, X: torch.Tensor) -> torch.Tensor:
        """Model outputs at `params` (selected tensors) on inputs X."""
        return functional_call(self.model, (params, self._others()), (X,))

    def batch_loss(self, params: dict, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.forward(params, X), y)

    def loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        """Full-data loss and its gradient (flat, P) at the operator's parameters.
        Costs one forward + backward pass over the data (the cost unit of an HVP)."""
        total, g = 0.0, torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)

        def loss_aux(p, X, y):
            loss = self.batch_loss(p, X, y)
            return loss, loss.detach()

        with model_mode(self.model, self.train_mode):
            for w, (X, y) in zip(self.batch_weights, self.batches):
                gb, loss = grad(loss_aux, has_aux=True)(self.params, X, y)
                g += w * self.layout.flatten(gb)
                total += w * float(loss)
        return total, g

    def parameter_vector(self) -> torch.Tensor:
        """The flat vector (P,) of the parameters the operator was built at."""
        return self.layout.flatten(self.params)

    # ------------------------------------------------------------------ application
    def _batch_matmat(self, X, y, V: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _matmat(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(dtype=self.dtype, device=self.device)
        out = torch.zeros_like(X)
        step = self.chunk_size or X.shape[1]
        with model_mode(self.model, self.train_mode):
            for j in range(0, X.shape[1], step):
                V = self.layout.unflatten_block(X[:, j:j + step])
                acc = None
                for w, (Xb, yb) in zip(self.batch_weights, self.batches):
                    R = self._batch_matmat(Xb, yb, V)
                    part = self.layout.flatten_block(R)
                    acc = w * part if acc is None else acc.add_(part, alpha=w)
                out[:, j:j + step] = acc
        return out

    def to_dense_torch(self) -> torch.Tensor:
        """The operator as a dense (P, P) tensor. Costs P matvecs (small models only)."""
        eye = torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
        return self.matmat(eye)


class HessianOperator(CurvatureOperator):
    """Hessian of the full-data loss with respect to the selected parameters.

    hvp: "cached" (double backward on a gradient graph built once per batch on the first
    product and kept inside the operator until ``release()``; one backward pass per vector:
    the fastest by measurement, 1.4-1.8x a gradient per HVP), "fwd_rev" (torch.func
    forward-over-reverse, vmapped over the block; keeps no graph), "rev_rev" (double
    backward with the graph rebuilt per product, block via ``is_grads_batched``), "loop"
    (forward-over-reverse one vector at a time). "auto" (default) is "cached" while
    num_samples * num_params < AUTO_CACHE_LIMIT (the kept graphs grow with the data), else
    "fwd_rev". See docs/hessian.md for the measurements.
    """

    kind = "hessian"

    def __init__(self, model, loss_fn, data, params=None, *, hvp: str = "auto", **kw):
        if hvp not in HVP_METHODS:
            raise InputFormatError(f"unknown hvp method {hvp!r}; choose one of {HVP_METHODS}")
        super().__init__(model, loss_fn, data, params, **kw)
        if hvp == "auto":
            hvp = "cached" if self.num_samples * self.shape[0] < AUTO_CACHE_LIMIT else "fwd_rev"
        self.hvp = hvp
        self.batched_cached = False
        self._graphs: list | None = None

    def _hvp_one(self, X, y, v: dict) -> dict:
        def g(p):
            return grad(self.batch_loss)(p, X, y)

        return jvp(g, (self.params,), (v,))[1]

    def _batch_matmat(self, X, y, V: dict) -> dict:
        if self.hvp == "fwd_rev":
            return vmap(lambda v: self._hvp_one(X, y, v), randomness="same")(V)
        if self.hvp == "loop":
            b = next(iter(V.values())).shape[0]
            outs = [self._hvp_one(X, y, {n: t[i] for n, t in V.items()}) for i in range(b)]
            return {n: torch.stack([o[n] for o in outs]) for n in V}
        names = self.layout.names
        grads_out = tuple(V[n] for n in names)
        if self.hvp == "cached":
            if self._graphs is None:
                self._graphs = {}
            key = id(X)
            if key not in self._graphs:
                leaves = {n: t.clone().requires_grad_(True) for n, t in self.params.items()}
                with torch.enable_grad():
                    loss = self.batch_loss(leaves, X, y)
                    gs = torch.autograd.grad(loss, tuple(leaves[n] for n in names),
                                             create_graph=True)
                self._graphs[key] = (leaves, gs)
            leaves, gs = self._graphs[key]
            inputs = tuple(leaves[n] for n in names)
            with torch.enable_grad():
                if self.batched_cached:
                    hv = torch.autograd.grad(gs, inputs, grads_out, retain_graph=True,
                                             is_grads_batched=True)
                else:  # one backward per vector: faster than the vmapped backward here
                    cols = [torch.autograd.grad(gs, inputs, tuple(g[i] for g in grads_out),
                                                retain_graph=True)
                            for i in range(grads_out[0].shape[0])]
                    hv = [torch.stack([c[k] for c in cols]) for k in range(len(names))]
            return dict(zip(names, hv))
        # rev_rev
        leaves = {n: t.clone().requires_grad_(True) for n, t in self.params.items()}
        with torch.enable_grad():
            loss = self.batch_loss(leaves, X, y)
            gs = torch.autograd.grad(loss, tuple(leaves[n] for n in names), create_graph=True)
            hv = torch.autograd.grad(gs, tuple(leaves[n] for n in names), grads_out,
                                     is_grads_batched=True)
        return {n: h.detach() for n, h in zip(names, hv)}

    def release(self) -> None:
        """Drop graphs cached by ``hvp="cached"``."""
        self._graphs = None


class GGNOperator(CurvatureOperator):
    """Generalized Gauss-Newton ``sum_b w_b J_b^T H_b J_b`` (J: Jacobian of the outputs
    with respect to the parameters, H: Hessian of the batch loss with respect to the
    outputs). Positive semi-definite for losses convex in the outputs (cross-entropy, MSE).

    When the output Jacobians of all batches fit in `cache_bytes` (N x outputs x P numbers;
    e.g. 8 MB for 512 samples, 4 classes, 1.5k parameters) they are built once on the first
    product (``torch.func.jacrev``, about one backward pass per output row, vectorized)
    and a product is two matrix products plus the loss-Hessian product on the outputs:
    J^T (H_L (J V)). Otherwise each product recomputes per batch a JVP, the loss-Hessian
    product and a VJP (no memory beyond one batch)."""

    kind = "ggn"

    def __init__(self, model, loss_fn, data, params=None, *,
                 cache_bytes: int = 256 * 2**20, **kw):
        super().__init__(model, loss_fn, data, params, **kw)
        itemsize = torch.finfo(self.dtype).bits // 8
        # train mode: batch statistics / dropout masks change per product: no cache
        self._cache = (not self.train_mode and
                       self._output_numel() * self.shape[0] * itemsize <= cache_bytes)
        self._J: dict | None = None

    def _output_numel(self) -> int:
        with torch.no_grad(), model_mode(self.model, self.train_mode):
            return int(sum(self.forward(self.params, X[:1]).numel() * X.shape[0]
                           for X, _ in self.batches))

    def _jacobians(self) -> dict:
        """{id(X): (J (n*outputs, P), output shape, u -> H_L u)} for every batch, built
        once (the loss-Hessian product at the batch's fixed outputs is kept too)."""
        if self._J is None:
            J = {}
            for X, y in self.batches:
                def f(p, X=X):
                    return self.forward(p, X)

                out = f(self.params).detach()
                jac = jacrev(f, chunk_size=256)(self.params)
                rows = out.numel()
                Jb = torch.cat([jac[n].reshape(rows, -1) for n in self.layout.names], dim=1)
                _, loss_hvp = vjp(grad(lambda o, y=y: self.loss_fn(o, y)), out)
                J[id(X)] = (Jb.detach(), out.shape, loss_hvp)
            self._J = J
        return self._J

    def _batch_matmat(self, X, y, V: dict) -> dict:
        if not self._cache:
            return _ggn_products(self, X, y, V)
        J, out_shape, loss_hvp = self._jacobians()[id(X)]
        Vf = self.layout.flatten_block(V)                     # (P, b)
        b = Vf.shape[1]
        JV = (J @ Vf).T.reshape(b, *out_shape)                # (b, *out)
        if b == 1:
            HJV = loss_hvp(JV[0])[0].reshape(1, -1)
        else:
            HJV = vmap(lambda u: loss_hvp(u)[0])(JV).reshape(b, -1)
        return self.layout.unflatten_block(J.T @ HJV.T)       # (P, b)


def _ggn_products(op: CurvatureOperator, X, y, V: dict) -> dict:
    """J^T H_L J V on one batch for a block V of tangents {name: (b, *shape)}."""
    def f(p):
        return op.forward(p, X)

    out, vjp_fn = vjp(f, op.params)
    # H_L u as the VJP of the output gradient (H_L is symmetric). Reverse-over-reverse here:
    # forward-mode AD through mse_loss's backward hits a torch ZeroTensor bug (2.13).
    _, loss_hvp = vjp(grad(lambda o: op.loss_fn(o, y)), out.detach())

    def one(v):
        jv = jvp(f, (op.params,), (v,))[1]
        return vjp_fn(loss_hvp(jv)[0])[0]

    return vmap(one, randomness="same")(V)


class FisherOperator(CurvatureOperator):
    """Fisher information of the model's predictive distribution.

    fisher_type:
      "empirical": ``(1/N) sum_i g_i g_i^T`` with ``g_i`` the gradient of sample i's loss at
        its true label (any loss_fn; the loss is applied to one-sample batches);
      "mc": the same with labels drawn once (fixed by `seed`) from the model's softmax,
        `mc_samples` per input (cross-entropy only); an unbiased estimate of the true Fisher;
      "true": the exact Fisher ``sum_b w_b J_b^T (diag(p) - p p^T)/n_b J_b``; for
        cross-entropy it equals the GGN and is computed as such (cross-entropy only).
    Per-sample gradients are formed with ``vmap(grad)``; when all of them fit in
    `cache_bytes` they are kept (an N x P matrix G) and a product costs two matrix
    products ``G^T (G V) / N``; otherwise they are recomputed per product.
    """

    kind = "fisher"

    def __init__(self, model, loss_fn, data, params=None, *, fisher_type: str = "empirical",
                 mc_samples: int = 1, cache_bytes: int = 256 * 2**20, **kw):
        if fisher_type not in FISHER_TYPES:
            raise InputFormatError(f"unknown fisher_type {fisher_type!r}; choose one of "
                                   f"{FISHER_TYPES}")
        if fisher_type != "empirical" and not is_cross_entropy(loss_fn):
            raise InputFormatError(f"fisher_type={fisher_type!r} needs a cross-entropy loss "
                                   "(the categorical likelihood); use 'empirical'")
        if fisher_type != "true" and kw.get("train_mode") and any(
                isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise InputFormatError("per-sample gradients (empirical/MC Fisher) of a BatchNorm "
                                   "model need eval mode: drop train_mode=True")
        super().__init__(model, loss_fn, data, params, **kw)
        self.fisher_type, self.mc_samples = fisher_type, int(mc_samples)
        if fisher_type == "mc":
            self._sample_labels()
        self._G = None
        itemsize = torch.finfo(self.dtype).bits // 8
        reps = self.mc_samples if fisher_type == "mc" else 1
        self._cache = fisher_type != "true" and (
            self.num_samples * reps * self.shape[0] * itemsize <= cache_bytes)

    def _sample_labels(self) -> None:
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        new = []
        with torch.no_grad(), model_mode(self.model, self.train_mode):
            for X, _ in self.batches:
                prob = torch.softmax(self.forward(self.params, X), dim=-1).cpu()
                lab = torch.multinomial(prob.double(), self.mc_samples, replacement=True,
                                        generator=gen)  # (n, S)
                new.append((X.repeat_interleave(self.mc_samples, 0) if self.mc_samples > 1
                            else X, lab.reshape(-1).to(self.device)))
        self.batches = new

    def per_sample_gradients(self, X, y) -> torch.Tensor:
        """(n, P) matrix of the gradients of each sample's loss. Costs about one backward
        pass per sample, vectorized with vmap."""
        def loss_one(p, x, t):
            return self.loss_fn(self.forward(p, x.unsqueeze(0)), t.unsqueeze(0))

        gs = vmap(grad(loss_one), in_dims=(None, 0, 0), randomness="different")(
            self.params, X, y)
        return self.layout.flatten_block(gs).T

    def _G_all(self) -> list[torch.Tensor]:
        if self._G is not None:
            return self._G
        with model_mode(self.model, self.train_mode):
            G = [self.per_sample_gradients(X, y) for X, y in self.batches]
        if self._cache:
            self._G = G
        return G

    def _matmat(self, X: torch.Tensor) -> torch.Tensor:
        if self.fisher_type == "true":
            return super()._matmat(X)
        X = X.to(dtype=self.dtype, device=self.device)
        out = torch.zeros_like(X)
        n_total = sum(X_b.shape[0] for X_b, _ in self.batches)
        for G in self._G_all():
            out += G.T @ (G @ X)
        return out / n_total

    def _batch_matmat(self, X, y, V):
        return _ggn_products(self, X, y, V)  # used for fisher_type="true" only


def hessian_operator(model, loss_fn, data, params=None, **kwargs) -> HessianOperator:
    """The Hessian of the mean loss of `model` over `data` as a symmetric LinearOperator.

    data: (X, y) tensors, a list of (X, y) batches or a DataLoader (stored once).
    params: None (all trainable), a name regex, or a list of names / module prefixes.
    Keywords: batch_size, subset (int or indices), seed, train_mode, chunk_size (vectors
    per vmap), hvp ("auto" default, "cached", "fwd_rev", "rev_rev", "loop").
    Each product with b vectors costs b HVPs; with the default cached graph one HVP costs
    one backward pass through the kept graph (1.4-1.8x a gradient, measured).
    """
    return HessianOperator(model, loss_fn, data, params, **kwargs)


def ggn_operator(model, loss_fn, data, params=None, **kwargs) -> GGNOperator:
    """The generalized Gauss-Newton matrix J^T H_L J averaged over `data` (PSD for convex
    losses). Same arguments as :func:`hessian_operator` (without hvp)."""
    return GGNOperator(model, loss_fn, data, params, **kwargs)


def fisher_operator(model, loss_fn, data, params=None, fisher_type: str = "empirical",
                    **kwargs) -> FisherOperator:
    """The Fisher matrix (fisher_type "empirical", "mc" or "true"; see FisherOperator)
    averaged over `data`. Same arguments as :func:`hessian_operator` plus mc_samples and
    cache_bytes."""
    return FisherOperator(model, loss_fn, data, params, fisher_type=fisher_type, **kwargs)
