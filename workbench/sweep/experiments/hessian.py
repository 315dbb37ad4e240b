"""Hessian experiment for sweeps: train a small MLP, then its top Hessian eigenvalues.

One task = generate data (offline) -> build ``workbench.hessian.mlp`` -> a few full-batch
training steps (torch.optim) -> ``hessian_operator`` -> ``workbench.spectral.top_eigs``
(and optionally an XTrace trace estimate). Everything runs on ``device`` ("auto": CUDA when the
worker has one), in float64 by default so that reruns and workers agree to rounding.
"""

from __future__ import annotations

import math

from workbench.errors import InputFormatError, RankError


def _dtype(name: str):
    import torch

    table = {"float32": torch.float32, "float64": torch.float64}
    if name not in table:
        raise InputFormatError(f"dtype must be 'float32' or 'float64', got {name!r}")
    return table[name]


def _train(model, X, y, steps: int, lr: float, optimizer: str) -> float:
    """Full-batch training with a torch optimizer; returns the final loss."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    if steps <= 0:
        with torch.no_grad():
            return float(loss_fn(model(X), y))
    opts = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    if optimizer not in opts:
        raise InputFormatError(f"optimizer must be one of {sorted(opts)}, got {optimizer!r}")
    opt = opts[optimizer](model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(loss_fn(model(X), y))


def top_eigs(width: int = 16, depth: int = 1, seed: int = 0, data_seed: int = 0,
             dataset: str = "gaussian_mixture", num_samples: int = 256,
             num_classes: int = 4, dim: int = 8, activation: str = "tanh",
             train_steps: int = 50, lr: float = 0.05, optimizer: str = "adam", k: int = 3,
             trace_matvecs: int = 0, dtype: str = "float64", device: str = "auto",
             tol: float = 1e-8, exact: bool = False) -> dict:
    """Top-``k`` eigenvalues of the loss Hessian of an MLP (``depth`` hidden layers of
    ``width``, init seed ``seed``) after ``train_steps`` full-batch steps on a generated
    data set (``data_seed``). Returns top_eig, top_k (k, descending), eig_residual (largest
    residual), num_params, loss, accuracy, hessian_matvecs (products used by top_eigs),
    trace and trace_se (XTrace, when trace_matvecs > 0, else NaN) and device (where it
    ran). ``exact=True`` adds top_eig_exact from the dense Hessian (``dense_hessian`` +
    eigvalsh; only for small models: num_params^2 memory). Costs train_steps forward+backward passes plus hessian_matvecs (+ trace_matvecs)
    Hessian-vector products over num_samples points."""
    import torch

    from workbench import spectral
    from workbench.backends import torch_device
    from workbench.hessian import (
        dense_hessian,
        gaussian_mixture,
        hessian_operator,
        make_dataset,
        mlp,
    )

    if k < 1:
        raise RankError(f"k must be >= 1, got {k}")
    dev = torch_device(device)
    dt = _dtype(dtype)
    if dataset == "gaussian_mixture":
        data = gaussian_mixture(num_samples=num_samples, num_classes=num_classes, dim=dim,
                                seed=data_seed, dtype=dt)
    else:
        data = make_dataset(dataset, seed=data_seed, dtype=dt)
    X, y = data.X.to(dev), data.y.to(dev)
    model = mlp(data.num_features, data.num_classes, width=width, depth=depth,
                activation=activation, seed=seed, dtype=dt).to(dev)
    loss = _train(model, X, y, train_steps, lr, optimizer)
    with torch.no_grad():
        accuracy = float((model(X).argmax(dim=1) == y).double().mean())
    H = hessian_operator(model, torch.nn.CrossEntropyLoss(), (X, y))
    res = spectral.top_eigs(H, k=k, tol=tol, seed=0)
    out = dict(top_eig=float(res.values[0]), top_k=res.values, eig_residual=float(
        max(res.residuals)), num_params=int(H.shape[0]), loss=loss, accuracy=accuracy,
        hessian_matvecs=int(res.num_matvecs), trace=math.nan, trace_se=math.nan,
        device=str(dev.type))
    if trace_matvecs > 0:
        tr = spectral.trace(H, method="xtrace", num_matvecs=trace_matvecs, seed=0)
        out.update(trace=float(tr.estimate), trace_se=float(tr.std_error))
    if exact:
        Hd = dense_hessian(model, torch.nn.CrossEntropyLoss(), (X, y))
        out["top_eig_exact"] = float(torch.linalg.eigvalsh(Hd)[-1])
    return out
