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

import dataclasses
import threading
import weakref
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, jvp, vjp, vmap

from workbench.errors import InputFormatError
from workbench.hessian.data import as_batches
from workbench.hessian.params import ParameterLayout, select_parameters
from workbench.hessian.plan import (
    CPU_SAFETY,
    MAX_VECTOR_CHUNK,
    PROBE_SAMPLES,
    MemoryPlan,
    SavedBytes,
    choose_plan,
    is_oom,
    parse_budget,
)
from workbench.operators.base import LinearOperator

HVP_METHODS = ("auto", "cached", "fwd_rev", "rev_rev", "loop", "fd")
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


@dataclasses.dataclass(frozen=True)
class ModelProbe:
    """The measurements behind a memory plan, shareable by the operators over parameter
    blocks of one model and data (``probe=``): autograd's saved bytes on `samples` probe
    samples with every parameter selected, the parameters the loss does not reach, the
    attention switch / HVP fallback the probe product needed (with their notes), the CUDA
    probe's peaks (1 and 2 vectors) where one ran, the operator `kind` and its plan."""

    saved: int
    samples: int
    unused: frozenset
    attention: str | None
    hvp: str | None
    notes: tuple
    cuda: tuple | None
    kind: str
    plan: MemoryPlan


class CurvatureOperator(LinearOperator):
    """Shared machinery: parameter selection, data batches, exact batch weights, model-state
    hygiene, flat <-> per-tensor vectors, the memory plan. Subclasses implement
    ``_batch_matmat``.

    max_memory: bytes a product may hold at its peak beyond the stored data and blocks,
    "auto" (default: half the free memory of the operator's device) or None (no plan:
    batches as given, the whole block per vmap unless chunk_size says otherwise). The plan
    (``op.plan``, a MemoryPlan) is made on the first product from a probe on a few samples;
    an out-of-memory error shrinks it and the product is recomputed. Micro-batches are
    weighted exactly, so for a loss that is a mean over samples (the premise of the
    operator) results do not depend on the plan. In train mode batches are never split
    (batch statistics would change).
    device: where the parameter copies, data and products live (default: the device of
    the model's parameters); the model's code runs there through ``functional_call``.
    ``op.notes`` lists what the operator decided for the user (parameters the loss does not
    reach get zero curvature, attention switched to eager, finite differences, plan).
    probe: a ModelProbe (``op.model_probe()`` of an operator over all the parameters of the
    same model and data, same kind and settings): the plan then reuses its measurements
    instead of probing again (a parameter block of a big model skips a forward/backward
    and a product); its per-sample cost, taken over all parameters, is an upper bound on
    the block's, so the plan stays inside the budget."""

    kind = "curvature"
    #: products of this kind need second-order autograd through the model
    second_order = True

    def __init__(self, model: nn.Module, loss_fn, data, params=None, *,
                 batch_size: int | None = None, subset=None, seed: int = 0,
                 train_mode: bool = False, chunk_size: int | None = None,
                 name: str | None = None, max_memory="auto", device=None,
                 probe: ModelProbe | None = None):
        if not isinstance(model, nn.Module):
            raise InputFormatError(f"model must be a torch.nn.Module, got {type(model)}")
        if not callable(loss_fn):
            raise InputFormatError("loss_fn must be callable: loss_fn(outputs, targets)")
        self.layout: ParameterLayout = select_parameters(model, params)
        named = dict(model.named_parameters())
        first = named[self.layout.names[0]]
        dtype = first.dtype
        device = first.device if device is None else torch.device(device)
        if not dtype.is_floating_point:
            raise InputFormatError(f"parameters must be floating point, got {dtype}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
            raise InputFormatError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        super().__init__((self.layout.size, self.layout.size), dtype, "torch", device,
                         symmetric=True, name=name or type(self).__name__)
        self.model, self.loss_fn = model, loss_fn
        self.train_mode, self.chunk_size, self.seed = bool(train_mode), chunk_size, seed
        self.max_memory = max_memory
        self.budget = parse_budget(max_memory, device)
        # private copies: the operator is the curvature at these parameters
        self.params = {n: named[n].detach().to(device).clone() for n in self.layout.names}
        self.frozen = {n: p.detach().to(device) for n, p in named.items()
                       if n not in self.params}
        self.buffers = {n: b.detach().to(device) for n, b in model.named_buffers()}
        self.batches = []
        for X, y in as_batches(data, batch_size=batch_size, subset=subset, seed=seed):
            X = X.to(device=device, dtype=dtype) if X.is_floating_point() else X.to(device)
            y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)
            self.batches.append((X, y))
        sizes = [X.shape[0] for X, _ in self.batches]
        self.num_samples = int(sum(sizes))
        self.batch_weights = [s / self.num_samples for s in sizes]
        self.notes: list[str] = []
        self.unused: tuple[str, ...] = ()   # selected parameters the loss does not reach
        self.attention: str | None = None   # attention implementation switched to, if any
        self._plan: MemoryPlan | None = None
        self._shared_probe = probe

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

    @contextmanager
    def running(self):
        """The model in the operator's mode (eval unless train_mode), with the attention
        implementation the operator switched to (if any); both restored afterwards."""
        with model_mode(self.model, self.train_mode), _attention(self.model, self.attention):
            yield

    def pieces(self, plan: MemoryPlan | None = None):
        """(weight, X, y, key) of every micro-batch of the plan: the stored batches split
        into runs of at most ``plan.batch_size`` samples, each weighted by its share of the
        data, so the weighted sum of per-piece means is the full-data mean."""
        mb = None if plan is None else plan.batch_size
        for bi, (w, (X, y)) in enumerate(zip(self.batch_weights, self.batches)):
            n = X.shape[0]
            if mb is None or n <= mb:
                yield w, X, y, (bi, 0, n)
                continue
            for s in range(0, n, mb):
                Xm, ym = X[s:s + mb], y[s:s + mb]
                yield w * Xm.shape[0] / n, Xm, ym, (bi, s, mb)

    def loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        """Full-data loss and its gradient (flat, P) at the operator's parameters.
        Costs one forward + backward pass over the data (the cost unit of an HVP)."""
        total, g = 0.0, torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)

        def loss_aux(p, X, y):
            loss = self.batch_loss(p, X, y)
            return loss, loss.detach()

        with self.running():
            for w, X, y, _ in self.pieces(self.plan):
                gb, loss = grad(loss_aux, has_aux=True)(self.params, X, y)
                g += w * self.layout.flatten(gb)
                total += w * float(loss)
        return total, g

    def parameter_vector(self) -> torch.Tensor:
        """The flat vector (P,) of the parameters the operator was built at."""
        return self.layout.flatten(self.params)

    # ------------------------------------------------------------------ memory plan
    @property
    def plan(self) -> MemoryPlan:
        """The memory plan (made on first use: a probe of a few samples, see
        workbench.hessian.plan)."""
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _max_chunk(self) -> int:
        return int(self.chunk_size) if self.chunk_size else MAX_VECTOR_CHUNK

    def _probe_batch(self, s: int):
        X, y = self.batches[0]
        return X[:s], y[:s]

    def _first_order_probe(self, X, y) -> int:
        """Bytes autograd saves for the loss's gradient graph on (X, y) (second-order graph
        when the operator needs one); records the parameters the loss does not reach."""
        names = self.layout.names
        leaves = {n: t.clone().requires_grad_(True) for n, t in self.params.items()}
        exclude = [*leaves.values(), *self._others().values(), X, y]
        with self.running(), torch.enable_grad(), SavedBytes(exclude) as sb:
            loss = self.batch_loss(leaves, X, y)
            gs = (torch.autograd.grad(loss, tuple(leaves[n] for n in names),
                                      create_graph=self.second_order, allow_unused=True)
                  if loss.requires_grad else (None,) * len(names))
        unused = tuple(n for n, g_ in zip(names, gs) if g_ is None)
        self._note_unused(unused, names)
        return sb.bytes

    def _note_unused(self, unused: tuple, names) -> None:
        """Record the parameters the loss does not reach (`unused`, of `names`): zero
        curvature and a note, once per change; none reached is an InputFormatError."""
        if unused != self.unused:
            self.unused = unused
            if unused:
                self.notes.append(f"the loss does not reach {', '.join(unused)}: zero "
                                  "curvature for these parameters")
        if len(unused) == len(names):
            raise InputFormatError("the loss does not depend on any selected parameter")

    def _cost_factors(self) -> tuple[float, float]:
        """(per-sample, per-sample-per-vector) multiples of the saved bytes of one
        sample's graph, for the CPU model of a product's peak."""
        return CPU_SAFETY, CPU_SAFETY

    def _probe_product(self, X, y, b: int):
        rng = torch.Generator(device="cpu").manual_seed(0)
        V = torch.randn(self.shape[0], b, generator=rng, dtype=torch.float64)
        V = self.layout.unflatten_block(V.to(dtype=self.dtype, device=self.device))
        with self.running():
            return self._batch_matmat(X, y, V, None)

    def _check_product(self, X, y) -> None:
        """Run one product on the probe; on an autograd error (fused kernels without
        double backward / forward AD) try the fallbacks of the subclass."""
        self._probe_product(X, y, 1)

    def _needs_higher_ad(self) -> bool:
        """Whether products need double backward or forward-mode AD through the model."""
        return True

    def _prefer_eager_attention(self) -> None:
        """Fused attention kernels (sdpa, flash) have neither double backward nor forward-mode
        AD: switch `transformers` parts to eager attention (the same function) during
        products at once instead of failing first. Recorded in ``attention`` / notes."""
        if self.attention is not None or not self._needs_higher_ad():
            return
        impls = {c._attn_implementation for c in attention_configs(self.model)}
        if impls and impls != {"eager"}:
            self.attention = "eager"
            self.notes.append(f"attention {', '.join(sorted(map(str, impls)))!r} has no "
                              "second-order autograd: products run with eager attention "
                              "(the same function)")

    def _make_plan(self) -> MemoryPlan:
        self._prefer_eager_attention()
        s = min(PROBE_SAMPLES, self.batches[0][0].shape[0])
        shared = self._shared_probe
        if shared is not None:
            saved = self._use_probe(shared)
            s = shared.samples
        else:
            X, y = self._probe_batch(s)
            saved = self._first_order_probe(X, y)
            self._check_product(X, y)
            self._probe_saved, self._probe_samples = saved, s
        itemsize = torch.finfo(self.dtype).bits // 8
        fixed = 4 * self.shape[0] * itemsize
        max_batch = max(X_.shape[0] for X_, _ in self.batches)
        a_f, b_f = self._cost_factors()
        a, bv = a_f * saved / s, b_f * saved / s
        how = f"model: {saved / s / 2**10:.1f} KiB saved per sample (probe of {s})"
        if shared is not None:
            how += ", shared probe over all parameters"
        if shared is not None and shared.cuda is not None and self.budget is not None:
            p1, p2 = shared.cuda
            bv = max(0.0, (p2 - p1 - fixed) / s)
            a = max(0.0, (p1 - fixed) / s - bv)
            how = (f"probe (shared, all parameters): torch.cuda.max_memory_allocated on {s} "
                   f"samples ({p1 / 2**20:.1f} / {p2 / 2**20:.1f} MiB for 1 / 2 vectors)")
        elif self.device.type == "cuda" and self.budget is not None:
            measured = _cuda_probe(lambda b: self._probe_product(X, y, b), self.device)
            self._cuda_measured = measured
            if measured is not None:
                p1, p2 = measured
                bv = max(0.0, (p2 - p1 - fixed) / s)
                a = max(0.0, (p1 - fixed) / s - bv)
                how = (f"probe: torch.cuda.max_memory_allocated on {s} samples "
                       f"({p1 / 2**20:.1f} / {p2 / 2**20:.1f} MiB for 1 / 2 vectors)")
        extra = self._extra_per_sample()
        plan = choose_plan(per_sample=int(a + extra), per_sample_vector=int(bv),
                           fixed_per_vector=fixed, max_batch=max_batch,
                           max_chunk=self._max_chunk(), budget=self.budget, how=how,
                           device=self.device)
        if self.train_mode and plan.batch_size < max_batch:
            plan = dataclasses.replace(plan, batch_size=max_batch,
                                       estimated_peak=plan.peak(max_batch, 1),
                                       vector_chunk=1,
                                       how=plan.how + "; train mode: batches not split "
                                       "(batch statistics), the budget may be exceeded")
        return self._adjust_plan(plan, saved / s)

    def model_probe(self) -> ModelProbe:
        """What this operator's plan measured (making the plan if needed), for operators
        over parameter blocks of the same model and data (``probe=``). Meant for an
        operator over all the model's parameters. Costs the plan's probe once."""
        plan = self.plan
        return ModelProbe(saved=self._probe_saved, samples=self._probe_samples,
                          unused=frozenset(self.unused), attention=self.attention,
                          hvp=getattr(self, "hvp", None), notes=tuple(self.notes),
                          cuda=getattr(self, "_cuda_measured", None), kind=self.kind,
                          plan=plan)

    def _use_probe(self, probe: ModelProbe) -> int:
        """Take over a shared probe: the parameters the loss does not reach (raising as the
        probe would when none of the selected ones is reached), the attention switch and
        the finite-difference fallback. Returns the probe's saved bytes."""
        if probe.kind != self.kind:
            raise InputFormatError(f"a {probe.kind} probe cannot plan a {self.kind} operator")
        names = self.layout.names
        unused = tuple(n for n in names if n in probe.unused)
        self._note_unused(unused, names)
        if probe.attention is not None and self.attention is None:
            self.attention = probe.attention
            self.notes += [n for n in probe.notes if "eager attention" in n]
        if probe.hvp == "fd" and getattr(self, "hvp", None) not in (None, "fd"):
            if not getattr(self, "_hvp_auto", False):
                raise InputFormatError(
                    f"hvp={self.hvp!r} needs second-order autograd through the model, which "
                    "failed on the shared probe; use hvp='auto' or 'fd'")
            self.hvp, self.second_order = "fd", False
            self.notes += [n for n in probe.notes if "finite-difference" in n]
        self._probe_saved, self._probe_samples = probe.saved, probe.samples
        return probe.saved

    def _extra_per_sample(self) -> float:
        return 0.0

    def _adjust_plan(self, plan: MemoryPlan, saved_per_sample: float) -> MemoryPlan:
        return plan

    def _drop_caches(self) -> None:
        """Forget what a product cached (graphs, Jacobians, gradients) after an OOM."""

    # ------------------------------------------------------------------ application
    def _batch_matmat(self, X, y, V: dict, key=None) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _matmat(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(dtype=self.dtype, device=self.device)
        while True:
            plan = self.plan if self.max_memory is not None else self._unplanned()
            try:
                return self._apply(X, plan)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                self._drop_caches()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self._plan = plan.shrunk()

    def _unplanned(self) -> MemoryPlan:
        """The plan of max_memory=None: batches as given, chunk_size (else the block)."""
        if self._plan is None:
            self._prefer_eager_attention()
            if self._shared_probe is not None:
                self._use_probe(self._shared_probe)
            else:
                s = min(PROBE_SAMPLES, self.batches[0][0].shape[0])
                X, y = self._probe_batch(s)
                self._probe_saved = self._first_order_probe(X, y)
                self._probe_samples = s
                self._check_product(X, y)
            self._plan = MemoryPlan(max(X_.shape[0] for X_, _ in self.batches),
                                    int(self.chunk_size or 2**31 - 1), None, 0,
                                    how="max_memory=None: batches as given",
                                    device=str(self.device))
        return self._plan

    def _apply(self, X: torch.Tensor, plan: MemoryPlan) -> torch.Tensor:
        out = torch.empty_like(X)
        step = max(1, min(plan.vector_chunk, X.shape[1]))
        with self.running():
            for j in range(0, X.shape[1], step):
                V = self.layout.unflatten_block(X[:, j:j + step])
                acc = None
                for w, Xb, yb, key in self.pieces(plan):
                    part = self.layout.flatten_block(self._batch_matmat(Xb, yb, V, key))
                    acc = w * part if acc is None else acc.add_(part, alpha=w)
                out[:, j:j + step] = acc
        return out

    def to_dense_torch(self) -> torch.Tensor:
        """The operator as a dense (P, P) tensor. Costs P matvecs (small models only)."""
        eye = torch.eye(self.shape[0], dtype=self.dtype, device=self.device)
        return self.matmat(eye)


def _cuda_probe(run, device) -> tuple[int, int] | None:
    """Peak bytes allocated above the start by run(1) and run(2) on a CUDA device (None if
    the probe itself ran out of memory)."""
    out = []
    for b in (1, 2):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        try:
            r = run(b)
        except Exception as exc:
            if is_oom(exc):
                return None
            raise
        torch.cuda.synchronize(device)
        out.append(torch.cuda.max_memory_allocated(device) - base)
        del r
    return out[0], out[1]


def attention_configs(model: nn.Module) -> list:
    """The distinct `transformers` configs (objects with ``_attn_implementation``) of
    `model` and its submodules (a wrapper around a pretrained encoder has none itself)."""
    out, seen = [], set()
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_attn_implementation") and id(cfg) not in seen:
            seen.add(id(cfg))
            out.append(cfg)
    return out


@contextmanager
def _attention(model: nn.Module, impl: str | None):
    """Run the `transformers` parts of `model` with attention implementation `impl` (None:
    unchanged), restoring their configs afterwards."""
    configs = attention_configs(model) if impl is not None else []
    before = [c._attn_implementation for c in configs]
    for c in configs:
        c._attn_implementation = impl
    try:
        yield
    finally:
        for c, b in zip(configs, before):
            c._attn_implementation = b


def _is_autograd_gap(exc: BaseException) -> bool:
    """An autograd error from a kernel without double backward / forward-mode AD."""
    msg = str(exc).lower()
    return isinstance(exc, (RuntimeError, NotImplementedError)) and not is_oom(exc) and (
        "not implemented" in msg or "does not support" in msg or "forward ad" in msg
        or "derivative for" in msg)


class HessianOperator(CurvatureOperator):
    """Hessian of the full-data loss with respect to the selected parameters.

    hvp: "cached" (double backward on a gradient graph built once per micro-batch on the
    first product and kept inside the operator until ``release()``; one backward pass per
    vector: the fastest by measurement, 1.4-1.8x a gradient per HVP), "fwd_rev" (torch.func
    forward-over-reverse, vmapped over the block; keeps no graph), "rev_rev" (double
    backward with the graph rebuilt per product, block via ``is_grads_batched``), "loop"
    (forward-over-reverse one vector at a time), "fd" (central differences of gradients,
    ``(g(t + h v) - g(t - h v)) / 2h`` with ``h = eps^(1/3) max(1, |t|) / |v|``: two
    gradients per vector, evaluated in float64 whatever the model's dtype, error ~ 1e-10
    relative; for models whose kernels have no second-order autograd). "auto" (default) is "cached" while num_samples * num_params <
    AUTO_CACHE_LIMIT and the kept graphs fit half the memory budget, else "fwd_rev"; if the
    model's kernels lack second-order autograd (fused attention), a `transformers` model is
    switched to eager attention during products, else "fd" runs. ``op.hvp`` and
    ``op.attention`` say what ran, ``op.notes`` why. See docs/hessian.md.
    """

    kind = "hessian"

    def __init__(self, model, loss_fn, data, params=None, *, hvp: str = "auto", **kw):
        if hvp not in HVP_METHODS:
            raise InputFormatError(f"unknown hvp method {hvp!r}; choose one of {HVP_METHODS}")
        super().__init__(model, loss_fn, data, params, **kw)
        self._hvp_auto = hvp == "auto"
        if hvp == "auto":
            hvp = "cached" if self.num_samples * self.shape[0] < AUTO_CACHE_LIMIT else "fwd_rev"
        self.hvp = hvp
        self.second_order = hvp != "fd"
        self.batched_cached = False
        self._graphs: dict | None = None

    def _needs_higher_ad(self) -> bool:
        return self.hvp != "fd"

    def _hvp_one(self, X, y, v: dict) -> dict:
        def g(p):
            return grad(self.batch_loss)(p, X, y)

        return jvp(g, (self.params,), (v,))[1]

    def _cost_factors(self):
        # loop: one vector at a time; cached: the kept graphs are checked in _adjust_plan,
        # a product adds one backward per vector
        if self.hvp in ("loop", "cached"):
            return CPU_SAFETY, 0.0
        if self.hvp == "fd":  # one gradient at a time, in float64
            return CPU_SAFETY * 8 / (torch.finfo(self.dtype).bits // 8), 0.0
        return CPU_SAFETY, CPU_SAFETY

    def _adjust_plan(self, plan, saved_per_sample):
        if self.hvp != "cached" or plan.budget is None:
            return plan
        kept = CPU_SAFETY * saved_per_sample * self.num_samples
        if kept <= plan.budget / 2:
            return dataclasses.replace(plan, how=plan.how + f"; kept graphs ~"
                                       f"{kept / 2**20:.1f} MiB")
        if not self._hvp_auto:
            self.notes.append(f"hvp='cached' keeps graphs of ~{kept / 2**20:.0f} MiB, over "
                              f"half the budget of {plan.budget / 2**20:.0f} MiB")
            return plan
        self.hvp = "fwd_rev"
        self.notes.append(f"hvp='auto': the kept graphs (~{kept / 2**20:.0f} MiB) would not "
                          "fit half the budget: forward-over-reverse products instead")
        self._plan = None
        return self._make_plan()

    def _check_product(self, X, y) -> None:
        try:
            self._probe_product(X, y, 1)
            return
        except Exception as exc:
            if not _is_autograd_gap(exc):
                raise
            err = exc
        impls = {c._attn_implementation for c in attention_configs(self.model)}
        impl = ", ".join(sorted(str(i) for i in impls))
        if impls and impls != {"eager"} and self.attention is None:
            self.attention = "eager"
            try:
                self._probe_product(X, y, 1)
                self.notes.append(f"attention {impl!r} has no second-order autograd: "
                                  "products run with eager attention (the same function)")
                return
            except Exception as exc:
                if not _is_autograd_gap(exc):
                    raise
                self.attention = None
        if self._hvp_auto:
            self.attention = None
            self.notes = [n for n in self.notes if "eager attention" not in n]
            self.hvp, self.second_order = "fd", False
            self.notes.append(f"second-order autograd failed ({str(err).splitlines()[0]}): "
                              "finite-difference HVPs (central differences of gradients)")
            self._probe_product(X, y, 1)
            return
        raise InputFormatError(
            f"hvp={self.hvp!r} needs second-order autograd through the model, which failed: "
            f"{str(err).splitlines()[0]}. Use hvp='auto' or 'fd' (finite differences), or "
            "load a transformers model with attn_implementation='eager'")

    def _fd(self, X, y, V: dict) -> dict:
        """Central differences of gradients, evaluated in float64 (in float32 the rounding
        of the gradients swamps the difference: measured errors of order 1 on a BERT)."""
        names = self.layout.names
        dt = torch.float64
        theta = {n: t.to(dt) for n, t in self.params.items()}
        others = {n: (t.to(dt) if t.is_floating_point() else t)
                  for n, t in self._others().items()}
        Xd = X.to(dt) if X.is_floating_point() else X
        yd = y.to(dt) if y.is_floating_point() else y
        if getattr(self, "_theta_norm", None) is None:  # one host sync per operator
            self._theta_norm = float(torch.sqrt(sum((t ** 2).sum() for t in theta.values())))
        base = torch.finfo(dt).eps ** (1.0 / 3.0) * max(1.0, self._theta_norm)
        b = next(iter(V.values())).shape[0]

        def loss(p):
            return self.loss_fn(functional_call(self.model, (p, others), (Xd,)), yd)

        gfun = grad(loss)
        outs = []
        for i in range(b):
            v = {n: V[n][i].to(dt) for n in names}
            vnorm = torch.sqrt(sum((t ** 2).sum() for t in v.values()))
            h = base / torch.clamp(vnorm, min=torch.finfo(dt).tiny)
            gp = gfun({n: theta[n] + h * v[n] for n in names})
            gm = gfun({n: theta[n] - h * v[n] for n in names})
            outs.append({n: ((gp[n] - gm[n]) / (2 * h)).to(self.dtype) for n in names})
        return {n: torch.stack([o[n] for o in outs]) for n in names}

    def _batch_matmat(self, X, y, V: dict, key=None) -> dict:
        if self.hvp == "fwd_rev":
            return vmap(lambda v: self._hvp_one(X, y, v), randomness="same")(V)
        if self.hvp == "loop":
            b = next(iter(V.values())).shape[0]
            outs = [self._hvp_one(X, y, {n: t[i] for n, t in V.items()}) for i in range(b)]
            return {n: torch.stack([o[n] for o in outs]) for n in V}
        if self.hvp == "fd":
            return self._fd(X, y, V)
        # autograd paths differentiate the parameters the loss reaches; the rest is zero
        names = [n for n in self.layout.names if n not in self.unused]
        b = next(iter(V.values())).shape[0]
        grads_out = tuple(V[n] for n in names)
        if self.hvp == "cached":
            entry = None if (key is None or self._graphs is None) else self._graphs.get(key)
            if entry is None:
                leaves = {n: t.clone().requires_grad_(True) for n, t in self.params.items()}
                with torch.enable_grad():
                    loss = self.batch_loss(leaves, X, y)
                    gs = torch.autograd.grad(loss, tuple(leaves[n] for n in names),
                                             create_graph=True)
                entry = (leaves, gs)
                if key is not None:
                    if self._graphs is None:
                        self._graphs = {}
                    self._graphs[key] = entry
            leaves, gs = entry
            inputs = tuple(leaves[n] for n in names)
            with torch.enable_grad():
                if self.batched_cached:
                    hv = torch.autograd.grad(gs, inputs, grads_out, retain_graph=True,
                                             is_grads_batched=True)
                else:  # one backward per vector: faster than the vmapped backward here
                    cols = [torch.autograd.grad(gs, inputs, tuple(g[i] for g in grads_out),
                                                retain_graph=True)
                            for i in range(b)]
                    hv = [torch.stack([c[k] for c in cols]) for k in range(len(names))]
        else:  # rev_rev
            leaves = {n: t.clone().requires_grad_(True) for n, t in self.params.items()}
            with torch.enable_grad():
                loss = self.batch_loss(leaves, X, y)
                gs = torch.autograd.grad(loss, tuple(leaves[n] for n in names),
                                         create_graph=True)
                hv = torch.autograd.grad(gs, tuple(leaves[n] for n in names), grads_out,
                                         is_grads_batched=True)
        out = {n: h.detach() for n, h in zip(names, hv)}
        for n in self.unused:
            out[n] = torch.zeros_like(V[n])
        return out

    def _drop_caches(self) -> None:
        self._graphs = None

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
    second_order = False  # a JVP and VJPs through the model, second order only in the loss

    def __init__(self, model, loss_fn, data, params=None, *,
                 cache_bytes: int = 256 * 2**20, **kw):
        super().__init__(model, loss_fn, data, params, **kw)
        itemsize = torch.finfo(self.dtype).bits // 8
        limit = cache_bytes if self.budget is None else min(cache_bytes, self.budget // 2)
        # train mode: batch statistics / dropout masks change per product: no cache
        self._cache = (not self.train_mode and
                       self._output_numel() * self.shape[0] * itemsize <= limit)
        self._J: dict | None = None

    def _output_numel(self) -> int:
        with torch.no_grad(), self.running():
            return int(sum(self.forward(self.params, X[:1]).numel() * X.shape[0]
                           for X, _ in self.batches))

    def _jacobian(self, X, y, key):
        """(J (n*outputs, P), output shape, u -> H_L u) of one micro-batch, built on first
        use and kept under `key` (the loss-Hessian product at the fixed outputs too)."""
        if self._J is not None and key in self._J:
            return self._J[key]

        def f(p):
            return self.forward(p, X)

        out = f(self.params).detach()
        jac = jacrev(f, chunk_size=256)(self.params)
        rows = out.numel()
        Jb = torch.cat([jac[n].reshape(rows, -1) for n in self.layout.names], dim=1)
        _, loss_hvp = vjp(grad(lambda o: self.loss_fn(o, y)), out)
        entry = (Jb.detach(), out.shape, loss_hvp)
        if key is not None:
            if self._J is None:
                self._J = {}
            self._J[key] = entry
        return entry

    def _drop_caches(self) -> None:
        self._J = None

    def _batch_matmat(self, X, y, V: dict, key=None) -> dict:
        if not self._cache or key is None:
            return _ggn_products(self, X, y, V)
        J, out_shape, loss_hvp = self._jacobian(X, y, key)
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
    second_order = False

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
        limit = cache_bytes if self.budget is None else min(cache_bytes, self.budget // 2)
        self._cache = fisher_type != "true" and (
            self.num_samples * reps * self.shape[0] * itemsize <= limit)

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

    def _needs_higher_ad(self) -> bool:
        return self.fisher_type == "true"

    def _extra_per_sample(self) -> float:
        return 0.0 if self.fisher_type == "true" else self.shape[0] * (
            torch.finfo(self.dtype).bits // 8)

    def _cost_factors(self):
        if self.fisher_type == "true":
            return super()._cost_factors()
        return CPU_SAFETY, 0.0  # vmapped over samples, not vectors

    def _drop_caches(self) -> None:
        self._G = None

    def _apply(self, X: torch.Tensor, plan) -> torch.Tensor:
        if self.fisher_type == "true":
            return super()._apply(X, plan)
        out = torch.zeros_like(X)
        n_total = sum(X_b.shape[0] for X_b, _ in self.batches)
        if self._G is not None:
            for G in self._G:
                out += G.T @ (G @ X)
            return out / n_total
        kept = []
        with self.running():
            for _, Xb, yb, _ in self.pieces(plan):
                G = self.per_sample_gradients(Xb, yb)
                out += G.T @ (G @ X)
                if self._cache:
                    kept.append(G)
        if self._cache:
            self._G = kept
        return out / n_total

    def _batch_matmat(self, X, y, V, key=None):
        return _ggn_products(self, X, y, V)  # used for fisher_type="true" only


def hessian_operator(model, loss_fn, data, params=None, **kwargs) -> HessianOperator:
    """The Hessian of the mean loss of `model` over `data` as a symmetric LinearOperator.

    data: (X, y) tensors, a list of (X, y) batches or a DataLoader (stored once).
    params: None (all trainable), a name regex, or a list of names / module prefixes.
    Keywords: batch_size, subset (int or indices), seed, train_mode, chunk_size (most
    vectors per vmap), hvp ("auto" default, "cached", "fwd_rev", "rev_rev", "loop", "fd"),
    max_memory (bytes, "auto" default, None: the memory plan, ``op.plan``), device.
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
