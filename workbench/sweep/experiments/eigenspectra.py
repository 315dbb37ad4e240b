"""Weight-eigenspectrum experiment for sweeps: per-layer power-law alpha at a checkpoint.

One task = train the digits MLP of ``workbench.eigenspectra.train_digits_mlp`` for
``epoch`` epochs (seed ``seed``) -> ``workbench.eigenspectra.analyze`` of its weights.
Sweeping ``epoch`` (and ``seed``) gives alpha per layer vs checkpoint: the heavy tails that
appear as the network learns.
"""

from __future__ import annotations

from workbench.errors import RankError


def alphas(epoch: int = 30, seed: int = 0, width: int = 256, lr: float = 0.05,
           batch_size: int = 32, fit: str = "power_law", mp_fit: bool = True) -> dict:
    """Per-layer metrics of the digits MLP (64 -> width -> width/2 -> 10, ReLU, SGD with
    momentum) after ``epoch`` epochs.

    Returns layer (layer names, in model order), alpha, alpha_weighted, stable_rank,
    log_spectral_norm and (with ``mp_fit``) num_spikes, each a 1-d array with one entry per
    analysed layer; mean_alpha (over layers with a finite alpha) and test_accuracy. Costs
    ``epoch`` passes over the 1,347 training images plus, per layer, one Gram product,
    eigvalsh and a KS scan (``analyze``)."""
    import numpy as np

    from workbench.eigenspectra import analyze, train_digits_mlp

    if epoch < 0:
        raise RankError(f"epoch must be >= 0, got {epoch}")
    if width < 2:
        raise RankError(f"width must be >= 2, got {width}")
    (ckpt,) = train_digits_mlp(epochs=epoch, checkpoints=(epoch,),
                               hidden=(width, width // 2), lr=lr,
                               batch_size=batch_size, seed=seed)
    weights = {k: v for k, v in ckpt.weights.items() if k.endswith("weight")}
    df = analyze(weights, fit=fit, mp_fit=mp_fit, seed=seed)
    alpha = df["alpha"].to_numpy(dtype=float)
    out = dict(layer=df["name"].astype(str).to_numpy(), alpha=alpha,
               alpha_weighted=df["alpha_weighted"].to_numpy(dtype=float),
               stable_rank=df["stable_rank"].to_numpy(dtype=float),
               log_spectral_norm=df["log_spectral_norm"].to_numpy(dtype=float),
               mean_alpha=float(np.nanmean(alpha)) if np.isfinite(alpha).any()
               else float("nan"),
               test_accuracy=float(ckpt.test_accuracy))
    if mp_fit:
        out["num_spikes"] = df["num_spikes"].to_numpy(dtype=float)
    return out
