"""``analyze(model_or_matrices)``: per-layer ESD metrics in a pandas table whose column names
follow WeightWatcher's, so users can switch.

Two steps, so a dashboard can cache the costly one:

    specs = spectra(model, farms=True)          # eigenvalues per layer (Gram + eigvalsh)
    df = metrics_table(specs, fit="power_law")  # fits only: milliseconds per layer

Column formulas (WeightWatcher's, ``evals`` = eigenvalues of W^T W, all of them):
norm = sum(evals); log_norm = log10(norm); spectral_norm = max(evals);
log_spectral_norm = log10(spectral_norm); alpha_weighted = alpha * log_spectral_norm;
log_alpha_norm = log10(sum(evals^alpha)); stable_rank = norm / spectral_norm;
entropy = -sum p log p / log(rank), p = evals / norm + 1e-10 (matrix entropy);
warning = "over-trained" if alpha < 2, "under-trained" if alpha > 6 ("exponential tail" when
a truncated power law's alpha sits on its bound, "fit failed" with a ``reason``).
With ``randomize``: ww_softrank = max(rand) / lambda_max, ww_maxdist = lambda_max - max(rand),
rand_distance = Jensen-Shannon distance of the two ESD histograms (WeightWatcher's).

Differences from WeightWatcher, on purpose: ``sigma_mp`` is the fitted entry standard
deviation of W (WeightWatcher reports it after rescaling W to unit Frobenius norm per
eigenvalue), fitted on the median of the ESD rather than by a histogram fit; spikes count
eigenvalues above the MP edge plus a Tracy-Widom margin (``tw_sigmas``); the randomized ESD
uses one shuffle (WeightWatcher: several replicas).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.eigenspectra.esd import (
    DEFAULT_BATCH_BYTES,
    LayerSpectrum,
    batched_gram_eigenvalues,
    layer_spectrum,
    single_blas_thread,
)
from workbench.eigenspectra.layers import extract_layers
from workbench.eigenspectra.powerlaw import EVALS_THRESH, PowerLawFit, fit_powerlaw, tpl_at_bound
from workbench.eigenspectra.rmt import MPFit, fit_mp

__all__ = ["analyze", "spectra", "metrics_table", "fit_layer", "LayerFit", "summary",
           "OVER_TRAINED", "UNDER_TRAINED"]

OVER_TRAINED_THRESH = 2.0
UNDER_TRAINED_THRESH = 6.0
OVER_TRAINED = "over-trained"
UNDER_TRAINED = "under-trained"
EXPONENTIAL_TAIL = "exponential tail"  # truncated power law with alpha on its bound
_EPS = 1e-10


@dataclass(frozen=True)
class LayerFit:
    """Everything shown for one layer: its metrics row, the power-law fit, the MP fit
    (or None) and the MP fit of the randomized ESD (or None)."""

    row: dict
    powerlaw: PowerLawFit
    mp: MPFit | None
    rand_mp: MPFit | None
    esd: np.ndarray  # the eigenvalues the power law was fitted to


def _entropy(evals: np.ndarray, rank: int) -> float:
    s = evals.sum()
    if not s > 0 or rank < 1:
        return float("nan")
    p = evals / s + _EPS
    return float(-np.sum(p * np.log(p)) / np.log(rank + _EPS))


def _js_distance(a: np.ndarray, b: np.ndarray, bins: int = 100) -> float:
    from scipy.spatial.distance import jensenshannon

    hi = max(a.max(), b.max())
    if not hi > 0:
        return 0.0
    edges = np.linspace(0.0, hi, bins + 1)
    pa, _ = np.histogram(a, edges)
    pb, _ = np.histogram(b, edges)
    return float(jensenshannon(pa, pb, base=2))


def fit_layer(spec: LayerSpectrum, *, fit: str = "power_law", finite_size="auto",
              fix_fingers: str | None = None, max_fingers: int = 10, finger_thresh: float = 1.0,
              xmin_range=None, xmax_clip: int = 0, mp_fit: bool = False,
              farms: bool = False, tw_sigmas: float = 3.0, thresh: float = EVALS_THRESH,
              backend: str = "auto") -> LayerFit:
    """Fit one cached :class:`LayerSpectrum`: power law (+ MP, randomized baseline).

    No eigenvalue computation here: cost is one O(n^2) KS scan over the n eigenvalues above
    ``thresh`` (about 0.5 ms for n = 384), plus O(n log n) for the MP fit.
    """
    evals = spec.evals
    use_farms = farms and spec.farms_evals is not None
    esd = spec.farms_evals if use_farms else evals
    pl = fit_powerlaw(esd, fit=fit, finite_size=finite_size, fix_fingers=fix_fingers,
                      max_fingers=max_fingers, finger_thresh=finger_thresh,
                      xmin_range=xmin_range, xmax_clip=xmax_clip, thresh=thresh,
                      backend=backend)
    norm = float(evals.sum())
    lmax = float(evals[-1]) if evals.size else float("nan")
    alpha = pl.alpha
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_spec = math.log10(lmax) if lmax > 0 else float("nan")
        log_alpha_norm = (float(np.log10(np.sum(evals ** alpha))) if np.isfinite(alpha)
                          else float("nan"))
    rank_tol = lmax * spec.N * np.finfo(np.float64).eps
    matrix_rank = int(np.count_nonzero(evals > rank_tol))
    if pl.ok and pl.fit == "truncated_power_law" and tpl_at_bound(alpha):
        warning = EXPONENTIAL_TAIL
    elif pl.ok:
        warning = (OVER_TRAINED if alpha < OVER_TRAINED_THRESH else
                   UNDER_TRAINED if alpha > UNDER_TRAINED_THRESH else "")
    else:
        warning = "fit failed"
    row = {
        "layer_id": spec.layer_id, "name": spec.name, "longname": spec.longname,
        "layer_type": spec.kind, "N": spec.N, "M": spec.M, "Q": spec.N / spec.M, "rf": spec.rf,
        "num_evals": int(evals.size),
        "alpha": alpha, "alpha_weighted": alpha * log_spec if pl.ok else float("nan"),
        "log_alpha_norm": log_alpha_norm,
        "log_norm": math.log10(norm) if norm > 0 else float("nan"),
        "log_spectral_norm": log_spec, "norm": norm, "spectral_norm": lmax,
        "stable_rank": norm / lmax if lmax > 0 else float("nan"),
        "entropy": _entropy(evals, matrix_rank), "matrix_rank": matrix_rank,
        "rank_loss": int(evals.size - matrix_rank),
        "weak_rank_loss": int(np.count_nonzero(evals < 1e-6)),
        "sv_max": math.sqrt(lmax) if lmax > 0 else 0.0,
        "sv_min": math.sqrt(float(evals[0])) if evals.size else float("nan"),
        "lambda_max": lmax, "has_esd": bool(evals.size),
        "xmin": pl.xmin, "xmax": pl.xmax, "D": pl.D, "sigma": pl.sigma,
        "num_pl_spikes": pl.num_pl_spikes, "num_fingers": pl.num_fingers,
        "raw_alpha": pl.raw_alpha, "fit": pl.fit, "status": pl.status, "warning": warning,
        "reason": pl.reason,
    }
    if fit == "truncated_power_law":
        row["Lambda"] = pl.Lambda
    mp = None
    if mp_fit:
        # pooled conv slices: eigenvalues of W_s^T W_s, each with the slice's N
        mp = fit_mp(evals, spec.N, spec.M, tw_sigmas=tw_sigmas)
        row.update({"sigma_mp": mp.sigma_mp, "lambda_plus": mp.lambda_plus,
                    "bulk_max": mp.lambda_plus, "bulk_min": mp.lambda_minus,
                    "num_spikes": mp.num_spikes, "mp_softrank": mp.mp_softrank})
    rand_mp = None
    if spec.rand_evals is not None:
        rand = spec.rand_evals
        rand_mp = fit_mp(rand, spec.N, spec.M, tw_sigmas=tw_sigmas)
        row.update({"rand_num_spikes": rand_mp.num_spikes, "num_traps": rand_mp.num_spikes,
                    "rand_lambda_plus": rand_mp.lambda_plus, "rand_sigma_mp": rand_mp.sigma_mp,
                    "rand_mp_softrank": rand_mp.mp_softrank,
                    "rand_bulk_max": rand_mp.lambda_plus, "rand_bulk_min": rand_mp.lambda_minus,
                    "max_rand_eval": float(rand[-1]), "ww_maxdist": lmax - float(rand[-1]),
                    "rand_distance": _js_distance(evals, rand),
                    "ww_softrank": float(rand[-1]) / lmax if lmax > 0 else float("nan")})
    if farms:
        row.update({"farms": use_farms, "farms_blocks": spec.farms_blocks,
                    "farms_num_evals": int(esd.size) if use_farms else 0})
    return LayerFit(row=row, powerlaw=pl, mp=mp, rand_mp=rand_mp, esd=esd)


def spectra(model_or_matrices, *, layers=None, min_evals: int = 8, max_evals: int = 15000,
            max_N: int = 500_000, conv_layout: str = "auto", conv_mode: str = "pool",
            split_qkv: bool = True, farms: bool = False, randomize: bool = False,
            seed: int = 0, device: str | None = None, farms_size: int = 128,
            farms_q: float = 1.0, farms_max_blocks: int = 32, batched: bool | None = None,
            max_batch_bytes: int = DEFAULT_BATCH_BYTES):
    """Eigenvalues of every analyzable layer: ``(list[LayerSpectrum], skipped list)``.

    Cost per layer: one Gram product (N M^2) and one M x M eigvalsh (+ the same for the
    shuffled copy with ``randomize``, + FARMS windows with ``farms``).

    Host path (``device`` None or "cpu", default): layers run on ``thread_budget()``
    threads at once, each with single-threaded BLAS (LAPACK releases the GIL; many small
    eigvalsh calls scale across layers, not inside one): 1.8x on 2 cores.

    Device path (``device`` a torch device such as "cuda", or ``batched=True``): torch
    weights stay on their device (no host copy of the model), equal-shaped matrices are
    stacked into batches of at most ``max_batch_bytes`` (default 2 GiB) of device memory
    and go through one batched Gram product and one batched float64 ``eigvalsh`` each
    (:func:`~workbench.eigenspectra.esd.batched_gram_eigenvalues`); only eigenvalues come
    back to the host. Same eigenvalues as the host path to float64 rounding.
    """
    from concurrent.futures import ThreadPoolExecutor

    from workbench.backends.threads import thread_budget

    if batched is None:
        batched = device is not None and str(device) != "cpu"
    mats, skipped = extract_layers(model_or_matrices, layers=layers, min_evals=min_evals,
                                   max_evals=max_evals, max_N=max_N, conv_layout=conv_layout,
                                   conv_mode=conv_mode, split_qkv=split_qkv,
                                   keep_torch=batched)
    if batched:
        dev = device if device is not None else "cpu"
        evals = batched_gram_eigenvalues([lm.mats for lm in mats], dev,
                                         max_bytes=max_batch_bytes)
        specs = [layer_spectrum(lm, farms=farms, randomize=randomize,
                                seed=seed + lm.layer_id, farms_size=farms_size,
                                farms_q=farms_q, farms_max_blocks=farms_max_blocks, evals=ev)
                 for lm, ev in zip(mats, evals, strict=True)]
        return specs, skipped

    def one(lm):
        return layer_spectrum(lm, farms=farms, randomize=randomize, seed=seed + lm.layer_id,
                              device=device, farms_size=farms_size, farms_q=farms_q,
                              farms_max_blocks=farms_max_blocks)

    workers = min(len(mats), thread_budget())
    with single_blas_thread():
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="workbench-esd") as pool:
                specs = list(pool.map(one, mats))  # in layer order
        else:
            specs = [one(lm) for lm in mats]
    return specs, skipped


def metrics_table(specs, **fit_options) -> pd.DataFrame:
    """One row per cached spectrum (see :func:`fit_layer` for the options)."""
    rows = [fit_layer(s, **fit_options).row for s in specs]
    return pd.DataFrame(rows)


def analyze(model_or_matrices, *, layers=None, fit: str = "power_law", finite_size="auto",
            fix_fingers: str | None = None, max_fingers: int = 10, finger_thresh: float = 1.0,
            mp_fit: bool = False, randomize: bool = False, farms: bool = False,
            conv_layout: str = "auto", conv_mode: str = "pool", split_qkv: bool = True,
            min_evals: int = 8, max_evals: int = 15000, max_N: int = 500_000,
            tw_sigmas: float = 3.0, thresh: float = EVALS_THRESH, seed: int = 0,
            device: str | None = None, farms_size: int = 128, farms_q: float = 1.0,
            farms_max_blocks: int = 32, backend: str = "auto", batched: bool | None = None,
            max_batch_bytes: int = DEFAULT_BATCH_BYTES) -> pd.DataFrame:
    """Per-layer eigenspectrum metrics of a model, as a pandas DataFrame (one row per layer).

    ``model_or_matrices``: torch ``nn.Module``, dict of named arrays, path to a safetensors
    file/folder or .npz/.npy, or one matrix. Columns follow WeightWatcher (layer_id, name,
    N, M, Q, num_evals, alpha, alpha_weighted, log_alpha_norm, log_norm, log_spectral_norm,
    spectral_norm, stable_rank, entropy, xmin, xmax, D, sigma, num_pl_spikes, warning, ...)
    plus ``status``/``reason`` of the fit; with ``mp_fit``: sigma_mp, lambda_plus (MP bulk
    edge), num_spikes, mp_softrank; with ``randomize``: num_traps, rand_lambda_plus,
    rand_distance, ww_softrank; with ``farms``: alpha and the fit columns come from the
    FARMS pooled ESD.

    ``device``: None/"cpu" computes on the host, threads across layers; a torch device
    ("cuda") keeps torch weights where they are and batches equal-shaped matrices through
    batched float64 Gram + ``eigvalsh`` in batches of at most ``max_batch_bytes`` (2 GiB)
    of device memory, streaming the layers (``batched=True`` forces that path on CPU).

    ``result.attrs``: ``skipped`` (list of {name, shape, reason}), ``params``, ``seconds``.
    Cost: per layer one Gram product + eigvalsh, one O(n^2) KS scan.
    """
    t0 = time.perf_counter()
    specs, skipped = spectra(model_or_matrices, layers=layers, min_evals=min_evals,
                             max_evals=max_evals, max_N=max_N, conv_layout=conv_layout,
                             conv_mode=conv_mode, split_qkv=split_qkv, farms=farms,
                             randomize=randomize, seed=seed, device=device,
                             farms_size=farms_size, farms_q=farms_q,
                             farms_max_blocks=farms_max_blocks, batched=batched,
                             max_batch_bytes=max_batch_bytes)
    df = metrics_table(specs, fit=fit, finite_size=finite_size, fix_fingers=fix_fingers,
                       max_fingers=max_fingers, finger_thresh=finger_thresh, mp_fit=mp_fit,
                       farms=farms, tw_sigmas=tw_sigmas, thresh=thresh, backend=backend)
    params = dict(fit=fit, finite_size=finite_size, fix_fingers=fix_fingers, mp_fit=mp_fit,
                  randomize=randomize, farms=farms, conv_layout=conv_layout,
                  conv_mode=conv_mode, seed=seed)
    df.attrs["skipped"] = skipped
    df.attrs["params"] = params
    df.attrs["seconds"] = time.perf_counter() - t0
    return df


def skipped_table(df: pd.DataFrame) -> pd.DataFrame:
    """The layers ``analyze`` skipped, with the reason, as a DataFrame."""
    return pd.DataFrame(df.attrs.get("skipped", []), columns=["name", "shape", "reason"])


def summary(df: pd.DataFrame) -> dict:
    """Means of WeightWatcher's summary metrics over the layers (NaN-skipping)."""
    keys = ["log_norm", "alpha", "alpha_weighted", "log_alpha_norm", "log_spectral_norm",
            "stable_rank", "mp_softrank"]
    return {k: float(df[k].mean()) for k in keys if k in df.columns}
