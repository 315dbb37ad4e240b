"""Hessian experiment for sweeps: train a small MLP, then its top Hessian eigenvalues.

One task = ``workbench.hessian.HessianSettings`` (the dashboard's settings: the grid's
names are its fields) -> ``train_experiment`` (generated data, ``workbench.hessian.mlp``,
the topic's one training loop) -> ``hessian_operator`` -> ``workbench.spectral.top_eigs``
(and optionally an XTrace trace estimate). Everything runs on ``device`` ("auto": CUDA
when the worker has one), in float64 by default so that reruns and workers agree to
rounding.
"""

from __future__ import annotations

import math

from workbench.errors import InputFormatError, RankError

#: the sweep's defaults for the settings it does not get from the grid: a one-hidden-layer
#: tanh MLP trained full-batch with Adam on a 4-class Gaussian mixture, in float64
SWEEP_DEFAULTS = dict(width=16, depth=1, num_samples=256, num_classes=4, dim=8,
                      separation=3.0, activation="tanh", optimizer="adam", lr=0.05,
                      batch_size=None, steps=50, k=3, trace_matvecs=0, data_seed=0,
                      dtype="float64", device="auto", num_snapshots=2)


def top_eigs(tol: float = 1e-8, exact: bool = False, train_steps: int | None = None,
             **settings) -> dict:
    """Top-``k`` eigenvalues of the loss Hessian of the model of ``settings`` (fields of
    ``HessianSettings``: width, depth, seed (initialization), data_seed, dataset,
    num_samples, steps, lr, optimizer, k, trace_matvecs, dtype, device, ...; the others
    from ``SWEEP_DEFAULTS``) after ``steps`` training steps. ``train_steps`` is the old
    name of ``steps`` (still read). Lanczos stops at residual ``tol`` x ||H||.

    Returns top_eig, top_k (k, descending), eig_residual (largest residual), num_params,
    loss, accuracy (full data, after training), hessian_matvecs (products used by
    top_eigs), trace and trace_se (XTrace, when trace_matvecs > 0, else NaN) and device
    (where it ran). ``exact=True`` adds top_eig_exact from the dense Hessian
    (``dense_hessian`` + eigvalsh; only for small models: num_params^2 memory). Costs
    ``steps`` forward+backward passes plus hessian_matvecs (+ trace_matvecs)
    Hessian-vector products over num_samples points."""
    import torch

    from workbench import spectral
    from workbench.hessian import dense_hessian, hessian_operator
    from workbench.hessian.experiments import train_experiment
    from workbench.hessian.settings import HessianSettings

    if train_steps is not None:
        settings.setdefault("steps", train_steps)
    if settings.get("k", 1) < 1:
        raise RankError(f"k must be >= 1, got {settings['k']}")
    try:
        s = HessianSettings(**{**SWEEP_DEFAULTS, **settings})
    except (TypeError, ValueError) as exc:  # an unknown name or a value out of bounds
        raise InputFormatError(f"hessian.top_eigs: {exc}") from None
    trained = train_experiment(s.config())
    model, loss_fn = trained.training.model, trained.loss
    X, y = trained.dataset.pair()
    final = trained.training.final
    H = hessian_operator(model, loss_fn, (X, y))
    res = spectral.top_eigs(H, k=s.k, tol=tol, seed=0)
    out = dict(top_eig=float(res.values[0]), top_k=res.values, eig_residual=float(
        max(res.residuals)), num_params=int(H.shape[0]), loss=final.loss,
        accuracy=final.accuracy, hessian_matvecs=int(res.num_matvecs), trace=math.nan,
        trace_se=math.nan, device=str(X.device.type))
    if s.trace_matvecs > 0:
        tr = spectral.trace(H, method="xtrace", num_matvecs=s.trace_matvecs, seed=0)
        out.update(trace=float(tr.estimate), trace_se=float(tr.std_error))
    if exact:
        Hd = dense_hessian(model, loss_fn, (X, y))
        out["top_eig_exact"] = float(torch.linalg.eigvalsh(Hd)[-1])
    return out
