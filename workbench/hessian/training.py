"""Training small models with snapshots, for watching curvature change during training.

``train`` copies the model (the caller's model is untouched), runs SGD / Adam / full-batch
GD for a number of steps, records the loss and accuracy curves, keeps parameter snapshots
at chosen steps and, optionally, tracks the sharpness (top Hessian eigenvalue of the
full-data loss) every few steps, which is what the edge-of-stability plot needs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from workbench.errors import InputFormatError, RankError
from workbench.hessian.data import Dataset

OPTIMIZERS = ("gd", "sgd", "adam")


@dataclass(frozen=True)
class Snapshot:
    """Parameters and buffers (CPU clones) at one training step, with the full-data loss
    and accuracy there."""

    step: int
    state: dict
    loss: float
    accuracy: float

    def load_into(self, model: nn.Module) -> nn.Module:
        """A copy of `model` holding this snapshot's weights (the argument is untouched)."""
        m = copy.deepcopy(model)
        m.load_state_dict(self.state)
        return m


@dataclass(frozen=True)
class TrainResult:
    """Curves and snapshots of one training run.

    steps (T,), loss (T,) the loss of the batch used at each step (the full-data loss for
    GD), snapshots at the requested steps (step 0 = initialization), sharpness_steps and
    sharpness (top Hessian eigenvalue of the full-data loss) when tracked, the trained
    model (a copy), the settings and the seconds spent.
    """

    model: nn.Module
    steps: np.ndarray
    loss: np.ndarray
    snapshots: tuple[Snapshot, ...]
    settings: dict
    seconds: float
    sharpness_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    sharpness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    num_hvps: int = 0

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]

    def model_at(self, step: int) -> nn.Module:
        """A copy of the model with the weights of the snapshot at `step`."""
        for s in self.snapshots:
            if s.step == step:
                return s.load_into(self.model)
        raise RankError(f"no snapshot at step {step}; snapshots at "
                        f"{[s.step for s in self.snapshots]}")


def evaluate(model: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(loss, accuracy) of `model` in eval mode on (X, y); accuracy is NaN for regression
    targets. The model's mode is restored."""
    from workbench.hessian.operators import model_mode

    with torch.no_grad(), model_mode(model, False):
        out = model(X)
        loss = float(loss_fn(out, y))
        acc = (float((out.argmax(-1) == y).double().mean()) if not y.is_floating_point()
               else float("nan"))
    return loss, acc


def train(model: nn.Module, data: Dataset | tuple, *, loss_fn=None, optimizer: str = "sgd",
          lr: float = 0.1, steps: int = 200, batch_size: int | None = None,
          momentum: float = 0.0, weight_decay: float = 0.0, snapshot_steps=None,
          num_snapshots: int = 5, sharpness_every: int = 0, sharpness_tol: float = 1e-4,
          seed: int = 0, progress: Callable[[float], None] | None = None) -> TrainResult:
    """Train a copy of `model` on `data` and return a TrainResult.

    optimizer: "gd" (full-batch gradient descent, batch_size ignored), "sgd" (mini-batches
    of `batch_size` drawn without replacement each epoch with `seed`; momentum allowed) or
    "adam". snapshot_steps: the steps to keep (default: `num_snapshots` evenly spaced,
    including 0 and `steps`). sharpness_every > 0 computes the top Hessian eigenvalue of the
    full-data loss every that many steps (Lanczos to relative residual `sharpness_tol`,
    warm-started from the previous eigenvector; typically 5-20 HVPs each).
    progress(fraction) is called as training advances.
    Cost: `steps` gradient steps plus the sharpness HVPs (counted in ``num_hvps``).
    """
    if optimizer not in OPTIMIZERS:
        raise InputFormatError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    if steps < 0:
        raise RankError(f"steps must be >= 0, got {steps}")
    if not lr > 0:
        raise InputFormatError(f"the learning rate must be positive, got {lr}")
    X, y = data.pair() if isinstance(data, Dataset) else data
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    model = copy.deepcopy(model)
    p0 = next(model.parameters())
    X = X.to(device=p0.device, dtype=p0.dtype)
    y = y.to(device=p0.device)
    n = X.shape[0]
    bs = n if optimizer == "gd" or batch_size is None else int(batch_size)
    if not 1 <= bs <= n:
        raise RankError(f"batch_size must be in [1, {n}], got {bs}")
    if snapshot_steps is None:
        snapshot_steps = np.unique(np.linspace(0, steps, max(2, num_snapshots)).round()
                                   .astype(int))
    snap_set = {int(s) for s in snapshot_steps if 0 <= int(s) <= steps}
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                              weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    pos = 0
    losses, snaps, sh_steps, sh_vals = [], [], [], []
    num_hvps, v0 = 0, None

    def snapshot(step):
        loss, acc = evaluate(model, loss_fn, X, y)
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        snaps.append(Snapshot(step, state, loss, acc))

    def sharpness(step):
        nonlocal num_hvps, v0
        from workbench.hessian.operators import hessian_operator
        from workbench.spectral import top_eigs

        H = hessian_operator(model, loss_fn, (X, y))
        res = top_eigs(H, k=1, tol=sharpness_tol, seed=seed, v0=v0)
        v0 = res.vectors[:, 0]
        num_hvps += res.num_matvecs
        sh_steps.append(step)
        sh_vals.append(float(res.values[0]))

    model.train()
    for step in range(steps + 1):
        if step in snap_set:
            snapshot(step)
        if sharpness_every and step % sharpness_every == 0:
            sharpness(step)
        if step == steps:
            break
        if bs == n:
            idx = None
        else:
            if pos + bs > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + bs]
            pos += bs
        opt.zero_grad(set_to_none=True)
        out = model(X if idx is None else X[idx])
        loss = loss_fn(out, y if idx is None else y[idx])
        if not torch.isfinite(loss):
            raise InputFormatError(f"training diverged at step {step} (loss {float(loss.detach())}): "
                                   f"lower the learning rate (lr={lr})")
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step % 10 == 0):
            progress(step / max(steps, 1))
    for p in model.parameters():
        p.grad = None
    model.eval()
    if progress is not None:
        progress(1.0)
    settings = dict(optimizer=optimizer, lr=lr, steps=steps, batch_size=bs,
                    momentum=momentum, weight_decay=weight_decay, seed=seed,
                    sharpness_every=sharpness_every)
    return TrainResult(model, np.arange(len(losses)), np.asarray(losses), tuple(snaps),
                       settings, time.perf_counter() - t0, np.asarray(sh_steps, dtype=int),
                       np.asarray(sh_vals), num_hvps)
