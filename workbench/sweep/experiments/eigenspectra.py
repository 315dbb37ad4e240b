"""Weight-eigenspectrum experiment for sweeps: per-layer power-law alpha at a checkpoint.

One task = train the digits MLP of ``workbench.eigenspectra.train_digits_mlp`` for
``epoch`` epochs (seed ``seed``) -> the eigenspectra topic run of its weights
(``run_eigenspectra(weights).fit(FitOptions(fit=..., mp_fit=...))``, the explorer's fit).
Sweeping ``epoch`` (and ``seed``) gives alpha per layer vs checkpoint: the heavy tails that
appear as the network learns.
"""

from __future__ import annotations

from workbench.eigenspectra.settings import FitOptions
from workbench.errors import RankError

_FIT = FitOptions()  # the fit the explorer starts with (workbench.eigenspectra.settings)


def alphas(epoch: int = 30, seed: int = 0, width: int = 256, lr: float = 0.05,
           batch_size: int = 32, fit: str = _FIT.fit, mp_fit: bool = _FIT.mp_fit) -> dict:
    """Per-layer metrics of the digits MLP (64 -> width -> width/2 -> 10, ReLU, SGD with
    momentum) after ``epoch`` epochs.

    Returns layer (layer names, in model order), alpha, alpha_weighted, stable_rank,
    log_spectral_norm and (with ``mp_fit``) num_spikes, each a 1-d array with one entry per
    analysed layer; mean_alpha (over layers with a finite alpha) and test_accuracy. Costs
    ``epoch`` passes over the 1,347 training images plus, per layer, one Gram product,
    eigvalsh and a KS scan (the same numbers as ``analyze``)."""
    import numpy as np

    from workbench.eigenspectra import run_eigenspectra, train_digits_mlp

    if epoch < 0:
        raise RankError(f"epoch must be >= 0, got {epoch}")
    if width < 2:
        raise RankError(f"width must be >= 2, got {width}")
    (ckpt,) = train_digits_mlp(epochs=epoch, checkpoints=(epoch,),
                               hidden=(width, width // 2), lr=lr,
                               batch_size=batch_size, seed=seed)
    weights = {k: v for k, v in ckpt.weights.items() if k.endswith("weight")}
    options = FitOptions(fit=fit, mp_fit=mp_fit)
    df = run_eigenspectra(weights).fit(options).table()
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
