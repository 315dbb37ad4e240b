"""How good are the curvature approximations people train and prune with, along training?
A topic run over the checkpoints of one Hessian experiment: per linear layer and per
checkpoint, the exact Gauss-Newton block of the layer's weight against its optimal
Kronecker approximation, K-FAC and Shampoo (``workbench.hessian.kronecker``), and, at the
last checkpoint, M-FAC's inverse-Fisher products against the dense answer as the number
of gradients m grows (``workbench.hessian.mfac``).

    run = run_approximations(HessianSettings(steps=60))   # train + every block, once
    view = run.at(checkpoint=2, layer="2")                # free: stored numbers only
    view.spectra["kfac"], view.overlaps["shampoo"], view.top_overlap["optimal"]
    run.mfac.num_grads, run.mfac.rel_error                # M-FAC error vs m

Everything costly happens in ``run_approximations``: training (``train_experiment``, the
Hessian experiment's own loop and checkpoints) and ``kronecker_blocks`` at every
checkpoint on a fixed random subset of the data. ``at`` only reads what was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.errors import InputFormatError, RankError

__all__ = ["METHODS", "METHOD_LABELS", "ApproxRun", "ApproxView", "MFACCurve",
           "mfac_error_curve", "run_approximations"]

#: the spectra compared, in drawing order ("exact" is the GGN block itself)
METHODS = ("exact", "optimal", "kfac", "shampoo")
METHOD_LABELS = {"exact": "exact GGN block", "optimal": "optimal Kronecker",
                 "kfac": "K-FAC", "shampoo": "Shampoo (L ⊗ R)"}


@dataclass(frozen=True)
class MFACCurve:
    """M-FAC's inverse-Fisher product against the dense answer: for each m in
    ``num_grads``, ``rel_error[i]`` = ||F_m^{-1} v - F^{-1} v|| / ||F^{-1} v|| with F the
    damped empirical Fisher of all ``num_samples`` per-sample gradients, F_m M-FAC's of
    the first m of them (a fixed random order), v the mean gradient (F^{-1} v: the natural
    gradient step). ``damping`` is the absolute lambda, ``dim`` the parameters, ``step``
    the checkpoint's training step."""

    num_grads: np.ndarray
    rel_error: np.ndarray
    damping: float
    dim: int
    num_samples: int
    step: int


def mfac_error_curve(model, loss_fn, data, num_grads=None, damping: float = 0.01,
                     seed: int = 0, step: int = 0) -> MFACCurve:
    """The :class:`MFACCurve` of `model` on `data` ((X, y)): `num_grads` (default: powers
    of two up to N, and N) gradients against all N. `damping` is relative to the top
    eigenvalue of the empirical Fisher (lambda = damping * lambda_max(G^T G / N)). Cost: N
    per-sample gradients (vmap), one dense d x d solve (O(d^3); d is capped at 6000) and
    one M-FAC set-up per m (O(d m^2))."""
    from workbench.hessian.mfac import MFAC, mfac_from_model

    G = mfac_from_model(model, loss_fn, data, damping=1.0).G.double()
    N, d = G.shape
    if d > 6000:
        raise InputFormatError(f"the dense Fisher of {d} parameters is too large to compare "
                               "M-FAC against (at most 6000)")
    G = G[torch.from_numpy(np.random.default_rng(seed).permutation(N)).to(G.device)]
    lam = float(damping) * float(torch.linalg.eigvalsh(G @ G.T / N)[-1])
    if not lam > 0:
        raise InputFormatError("the gradients are all zero: nothing to precondition")
    if num_grads is None:
        num_grads = [m for m in 2 ** np.arange(0, 20) if m < N] + [N]
    ms = np.array(sorted({int(m) for m in num_grads if 1 <= int(m) <= N}))
    v = G.mean(0)
    F = G.T @ G / N + lam * torch.eye(d, dtype=G.dtype, device=G.device)
    exact = torch.linalg.solve(F, v)
    norm = float(torch.linalg.norm(exact))
    errs = [float(torch.linalg.norm(MFAC(G[:m], damping=lam).inverse_matvec(v) - exact))
            / norm for m in ms]
    return MFACCurve(ms, np.array(errs), lam, d, N, int(step))


@dataclass(frozen=True)
class ApproxView:
    """One layer at one checkpoint (index ``checkpoint``, training ``step``): ``spectra``
    {method: top-k eigenvalues, descending} for METHODS, ``overlaps`` {method:
    |<u_i, v_i>| of the approximation's and the exact block's i-th eigenvectors},
    ``errors`` {method: relative Frobenius error}; over the checkpoints (``steps``):
    ``top_overlap`` {method: overlap of the top eigenvector} and ``error_over`` {method:
    relative error}. ``layers`` names every layer, ``shape`` is this one's (out, in)."""

    checkpoint: int
    step: int
    layer: str
    layers: tuple
    shape: tuple
    spectra: dict = field(repr=False)
    overlaps: dict = field(repr=False)
    errors: dict
    steps: np.ndarray = field(repr=False)
    top_overlap: dict = field(repr=False)
    error_over: dict = field(repr=False)


@dataclass(frozen=True)
class ApproxRun:
    """``blocks[c][layer]``: the KroneckerBlock of `layer` at checkpoint c (training step
    ``steps[c]``); ``mfac``: the M-FAC curve at the last checkpoint (None when not asked
    for); ``k`` eigenpairs per block, ``num_samples`` data points, ``config`` the
    experiment's ExperimentConfig. ``at`` views it without new products."""

    steps: tuple
    layers: tuple
    blocks: tuple = field(repr=False)
    k: int
    num_samples: int
    config: object = field(repr=False)
    mfac: MFACCurve | None = None
    seconds: float = 0.0

    def layer_name(self, layer: int | str | None) -> str:
        """The layer's name from its name or index (None: the first)."""
        if layer is None:
            return self.layers[0]
        if isinstance(layer, str):
            if layer not in self.layers:
                raise InputFormatError(f"no linear layer {layer!r}; the run has "
                                       f"{list(self.layers)}")
            return layer
        i = int(layer)
        if not 0 <= i < len(self.layers):
            raise RankError(f"layer index {i} outside 0..{len(self.layers) - 1}")
        return self.layers[i]

    def at(self, checkpoint: int | None = None, layer: int | str | None = None) -> ApproxView:
        """The :class:`ApproxView` of `layer` (name or index; None: the first) at
        checkpoint index `checkpoint` (0 = initialization; None or beyond the last: the
        last). No products: O(k x checkpoints) copying."""
        if checkpoint is not None and checkpoint < 0:
            raise RankError(f"checkpoint must be >= 0, got {checkpoint}")
        c = len(self.steps) - 1 if checkpoint is None else min(int(checkpoint),
                                                               len(self.steps) - 1)
        name = self.layer_name(layer)
        b = self.blocks[c][name]
        over = [bl[name] for bl in self.blocks]
        return ApproxView(
            checkpoint=c, step=int(self.steps[c]), layer=name, layers=self.layers,
            shape=tuple(b.shape),
            spectra={m: np.asarray(b.spectra[m]) for m in METHODS},
            overlaps={m: np.asarray(b.overlaps[m]) for m in METHODS if m != "exact"},
            errors=dict(b.errors), steps=np.asarray(self.steps),
            top_overlap={m: np.array([o.overlaps[m][0] for o in over])
                         for m in METHODS if m != "exact"},
            error_over={m: np.array([o.errors[m] for o in over])
                        for m in METHODS if m != "exact"})

    def table(self) -> pd.DataFrame:
        """One row per (step, layer, method): relative error, top eigenvalue, top
        overlap."""
        rows = [t.assign(step=s) for s, bl in zip(self.steps, self.blocks, strict=True)
                for t in (b.table() for b in bl.values())]
        return pd.concat(rows, ignore_index=True)


def _experiment(source):
    """(config, training, dataset) of a HessianRun / ExperimentResult / TrainedExperiment,
    or of HessianSettings / ExperimentConfig (trained here: ``train_experiment``)."""
    from workbench.hessian.experiments import ExperimentConfig, train_experiment
    from workbench.hessian.settings import ExperimentSettings

    source = getattr(source, "experiment", source)  # a HessianRun
    if isinstance(source, ExperimentSettings):
        source = source.config()
    if isinstance(source, ExperimentConfig):
        source = train_experiment(source)
    if not all(hasattr(source, a) for a in ("config", "training", "dataset")):
        raise InputFormatError("run_approximations takes HessianSettings, an "
                               "ExperimentConfig, a trained experiment or a HessianRun, got "
                               f"{type(source).__name__}")
    return source.config, source.training, source.dataset


def run_approximations(source=None, *, k: int = 8, num_samples: int | None = 256,
                       mfac: bool = True, mfac_damping: float = 0.01, seed: int = 0,
                       progress: Callable[[float], None] | None = None,
                       **fields) -> ApproxRun:
    """Train (or take) one Hessian experiment and compare the curvature approximations of
    every linear layer at every checkpoint. `source`: HessianSettings, an
    ExperimentConfig, a trained experiment or a HessianRun (None: ``HessianSettings(
    **fields)``); `num_samples`: a fixed random subset of the data (seed `seed`; None:
    all); `k`: eigenpairs per block; `mfac`: also the M-FAC error curve at the end (models
    up to 6000 parameters). Returns an :class:`ApproxRun`. Cost: the training (when not
    given) + per checkpoint ``kronecker_blocks`` (C backward passes, power iteration and
    a top-k eigensolve per layer) + the M-FAC curve (a dense d x d solve)."""
    import time

    from workbench.hessian.kronecker import kronecker_blocks
    from workbench.hessian.models import make_loss
    from workbench.hessian.settings import HessianSettings

    t0 = time.perf_counter()
    if source is None:
        source = HessianSettings(**fields)
    elif fields:
        raise InputFormatError("give either a source or settings keywords, not both")
    config, training, dataset = _experiment(source)
    loss = make_loss(config.loss)
    X, y = dataset.pair()
    if num_samples is not None and num_samples < X.shape[0]:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], int(num_samples),
                                                         replace=False))
        idx = torch.from_numpy(idx).to(X.device)
        X, y = X[idx], y[idx]
    blocks = []
    snaps = training.snapshots
    for i, snap in enumerate(snaps):
        model = snap.load_into(training.model)
        blocks.append(kronecker_blocks(model, loss, (X, y), k=k))
        if progress:
            progress((i + 1) / (len(snaps) + mfac))
    curve = None
    if mfac:
        model = snaps[-1].load_into(training.model)
        curve = mfac_error_curve(model, loss, (X, y), damping=mfac_damping, seed=seed,
                                 step=snaps[-1].step)
        if progress:
            progress(1.0)
    return ApproxRun(steps=tuple(int(s.step) for s in snaps), layers=tuple(blocks[0]),
                     blocks=tuple(blocks), k=int(k), num_samples=int(X.shape[0]),
                     config=config, mfac=curve, seconds=time.perf_counter() - t0)

