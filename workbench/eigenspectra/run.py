"""The eigenspectra topic run: eigenvalues of every layer computed once, then fits and
per-layer views answered from them.

    run = run_eigenspectra("minilm")                 # ~1 s: Gram + eigvalsh per layer
    fits = run.fit(FitOptions(xmin_q=0.5))           # every layer, ~1 ms each
    view = fits.at(layer=3, bins=40)                 # free: histogram + curves of one layer
    view = run.at(layer=3, options=FitOptions(fit="truncated_power_law"))  # one refit

A run of the digits MLP holds one spectrum list per training checkpoint (``epoch=``); other
runs one list (``epoch=None``). Views are plain data: numpy arrays, floats and strings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.eigenspectra.settings import FitOptions
from workbench.errors import InputFormatError, ShapeError

__all__ = ["EigenspectraRun", "FitTable", "LayerView", "run_eigenspectra", "fit_spectrum",
           "layer_view", "log_histogram", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("layer_id", "name", "layer_type", "N", "M", "rf", "num_evals", "alpha",
                 "sigma", "D", "xmin", "num_pl_spikes", "alpha_weighted", "log_norm",
                 "log_spectral_norm", "stable_rank", "entropy", "num_spikes", "lambda_plus",
                 "num_traps", "rand_distance", "warning", "reason")
"""The columns of a fit table the explorer's Table tab shows (those present)."""

_EMPTY = (np.array([]), np.array([]))
DEFAULT_OPTIONS = FitOptions()


def log_histogram(values, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, density) of the positive `values` over `bins` log-spaced bins, empty
    bins dropped; density per unit eigenvalue, normalised by the count of all `values`.
    Empty arrays when fewer than two distinct positive values. Cost: one histogram."""
    values = np.asarray(values, dtype=float)
    v = values[values > 0]
    if v.size < 2 or v.max() <= v.min():
        return np.array([]), np.array([])
    edges = np.logspace(np.log10(v.min()), np.log10(v.max()), int(bins) + 1)
    counts, _ = np.histogram(v, edges)
    dens = counts / (values.size * np.diff(edges))
    centres = np.sqrt(edges[1:] * edges[:-1])
    keep = dens > 0
    return centres[keep], dens[keep]


def _powerlaw_curve(fit) -> tuple[tuple, str]:
    """(x, y) of the fitted (truncated) power law above xmin, in the histogram's density
    units, and its legend text; empty when the fit failed."""
    pl, ev = fit.powerlaw, np.asarray(fit.esd, dtype=float)
    if not pl.ok:
        return _EMPTY, ""
    xs = np.logspace(np.log10(pl.xmin), np.log10(max(pl.xmax, pl.xmin * 1.0001)), 50)
    frac = pl.num_pl_spikes / max(ev[ev > 0].size, 1)
    if pl.fit == "truncated_power_law" and np.isfinite(pl.Lambda):
        shape = (xs / pl.xmin) ** (-pl.alpha) * np.exp(-pl.Lambda * (xs - pl.xmin))
        norm = np.trapezoid(shape, xs) if xs.size > 1 else 1.0
        return (xs, frac * shape / norm), f"truncated PL alpha={pl.alpha:.2f}"
    ys = frac * (pl.alpha - 1) / pl.xmin * (xs / pl.xmin) ** (-pl.alpha)
    return (xs, ys), f"power law alpha={pl.alpha:.2f}"


def _mp_curve(fit, spec) -> tuple[tuple, str, float]:
    """(x, y) of the fitted Marchenko–Pastur density in raw W^T W units, its legend text
    and lambda+ (empty, "", NaN without an MP fit, for a FARMS ESD or without `spec`)."""
    from workbench.eigenspectra.rmt import mp_density

    mp, ev = fit.mp, np.asarray(fit.esd, dtype=float)
    if mp is None or spec is None or fit.row.get("farms", False):
        return _EMPTY, "", float("nan")
    lo = max(mp.lambda_minus, ev[ev > 0].min() if np.any(ev > 0) else 1e-12)
    xs = np.logspace(np.log10(max(lo, 1e-12)), np.log10(mp.lambda_plus), 200)
    ys = mp_density(xs / spec.N, mp.Q, mp.sigma_mp) / spec.N
    keep = ys > 0
    if not keep.any():
        return _EMPTY, "", float(mp.lambda_plus)
    return (xs[keep], ys[keep]), f"MP bulk ({mp.num_spikes} spikes)", float(mp.lambda_plus)


@dataclass(frozen=True)
class LayerView:
    """One layer as the explorer draws it: its fit (``fit.row`` the metrics), the
    log-binned ESD (``esd``: centres, density), the fitted power law (``powerlaw``: x, y;
    empty when the fit failed) and its legend ``powerlaw_label``, the MP bulk (``mp``,
    ``mp_label``; empty without an MP fit), ``xmin`` and ``lambda_plus`` (NaN when absent),
    and the KS scan (``ks``: candidate xmins, distance D, for D < 1)."""

    index: int
    epoch: int | None
    bins: int
    fit: object = field(repr=False)  # LayerFit
    spec: object = field(repr=False)  # LayerSpectrum, or None
    esd: tuple = field(repr=False)
    powerlaw: tuple = field(repr=False)
    powerlaw_label: str
    mp: tuple = field(repr=False)
    mp_label: str
    xmin: float
    lambda_plus: float
    ks: tuple = field(repr=False)

    @property
    def name(self) -> str:
        return self.fit.row["name"]

    @property
    def row(self) -> dict:
        return self.fit.row


def layer_view(fit, spec=None, bins: int = 60, index: int = 0,
               epoch: int | None = None) -> LayerView:
    """The :class:`LayerView` of a :class:`~workbench.eigenspectra.LayerFit` (``spec``,
    its LayerSpectrum, gives N for the MP curve in raw units). Cost: one histogram of the
    eigenvalues and 50 + 200 density evaluations; no fitting."""
    pl_xy, pl_label = _powerlaw_curve(fit)
    mp_xy, mp_label, lam = _mp_curve(fit, spec)
    pl = fit.powerlaw
    keep = np.asarray(pl.Ds) < 1
    return LayerView(index=int(index), epoch=epoch, bins=int(bins), fit=fit, spec=spec,
                     esd=log_histogram(fit.esd, bins), powerlaw=pl_xy,
                     powerlaw_label=pl_label, mp=mp_xy, mp_label=mp_label,
                     xmin=float(pl.xmin) if pl.ok else float("nan"), lambda_plus=lam,
                     ks=(np.asarray(pl.xmins)[keep], np.asarray(pl.Ds)[keep]))


def fit_spectrum(spec, options: FitOptions = DEFAULT_OPTIONS, farms: bool = False):
    """:func:`workbench.eigenspectra.fit_layer` of one LayerSpectrum with `options` (the
    xmin quantile turned into an xmin range over its positive eigenvalues). Returns the
    LayerFit. Cost: one KS scan (pruned above 1024 eigenvalues), milliseconds."""
    from workbench.eigenspectra.analyze import fit_layer

    kw = options.kwargs(farms)
    esd = spec.farms_evals if (farms and spec.farms_evals is not None) else spec.evals
    if options.xmin_q > 0 and esd.size > 2:
        pos = esd[esd > 0]
        if pos.size > 2:
            kw["xmin_range"] = (float(np.quantile(pos, options.xmin_q)), float("inf"))
    return fit_layer(spec, **kw)


@dataclass(frozen=True)
class EigenspectraRun:
    """Eigenvalues of every layer of one set of weights (``specs``: epoch -> tuple of
    LayerSpectrum; the single key None unless the weights are training checkpoints), the
    arrays skipped with the reason, checkpoint test accuracies and the seconds it took.
    ``fit`` and ``at`` answer from the stored eigenvalues: no eigenvalue work."""

    model: str
    label: str
    specs: Mapping = field(repr=False)
    skipped: tuple = field(repr=False)
    accuracy: Mapping = field(default_factory=dict, repr=False)
    farms: bool = False
    randomize: bool = False
    seconds: float = 0.0

    @property
    def epochs(self) -> list:
        """The training checkpoints (empty for weights not trained here)."""
        return [e for e in self.specs if e is not None]

    def epoch_of(self, epoch) -> int | None:
        """`epoch` when the run has it, None for a run without checkpoints, else the
        last checkpoint."""
        if None in self.specs:
            return None
        return epoch if epoch in self.specs else self.epochs[-1]

    def layers(self, epoch=None) -> tuple:
        """The LayerSpectrum of each layer (at checkpoint `epoch`)."""
        return self.specs[self.epoch_of(epoch)]

    def fit(self, options: FitOptions = DEFAULT_OPTIONS) -> FitTable:
        """Fit every layer of every checkpoint with `options`. Returns a FitTable. Cost: one
        KS scan per layer (about 1 ms; MiniLM's 39 layers ~50 ms, with FARMS ~0.3 s)."""
        t0 = time.perf_counter()
        fits = {ep: tuple(fit_spectrum(s, options, self.farms) for s in specs)
                for ep, specs in self.specs.items()}
        return FitTable(run=self, options=options, fits=fits,
                        seconds=time.perf_counter() - t0)

    def at(self, layer: int, *, epoch=None, bins: int = 60,
           options: FitOptions = DEFAULT_OPTIONS) -> LayerView:
        """Layer `layer` (clamped to the layers there are) refitted with `options`, viewed
        with `bins` histogram bins. Cost: one KS scan + :func:`layer_view`."""
        ep = self.epoch_of(epoch)
        specs = self.specs[ep]
        i = min(max(int(layer), 0), len(specs) - 1)
        return layer_view(fit_spectrum(specs[i], options, self.farms), specs[i], bins, i, ep)

    def skipped_table(self) -> pd.DataFrame:
        """The arrays not analyzed: name, shape ("a x b"), reason."""
        df = pd.DataFrame(list(self.skipped), columns=["name", "shape", "reason"])
        df["shape"] = df["shape"].map(lambda s: " x ".join(map(str, s)))
        return df


@dataclass(frozen=True)
class FitTable:
    """Every layer of a run fitted with one set of options: ``fits`` (epoch -> tuple of
    LayerFit). ``at`` views a layer without refitting."""

    run: EigenspectraRun = field(repr=False)
    options: FitOptions
    fits: Mapping = field(repr=False)
    seconds: float = 0.0

    def layer_fits(self, epoch=None) -> tuple:
        return self.fits[self.run.epoch_of(epoch)]

    def table(self, epoch=None) -> pd.DataFrame:
        """One row per layer (WeightWatcher's columns, see :func:`fit_layer`)."""
        return pd.DataFrame([f.row for f in self.layer_fits(epoch)])

    def metrics_table(self, epoch=None) -> pd.DataFrame:
        """What the explorer's Table tab shows: ``table(epoch)``'s TABLE_COLUMNS (those
        present, in that order), rounded to 4 digits. Cost: O(layers)."""
        df = self.table(epoch)
        return df[[c for c in TABLE_COLUMNS if c in df.columns]].round(4)

    def at(self, layer: int, *, epoch=None, bins: int = 60) -> LayerView:
        """The stored fit of layer `layer` (clamped) viewed with `bins` bins. Cost:
        :func:`layer_view` (a histogram), no fitting."""
        ep = self.run.epoch_of(epoch)
        fits, specs = self.fits[ep], self.run.specs[ep]
        i = min(max(int(layer), 0), len(fits) - 1)
        return layer_view(fits[i], specs[i], bins, i, ep)

    def trajectories(self) -> pd.DataFrame:
        """Long table over the checkpoints: epoch, test_accuracy and every fit column, one
        row per (checkpoint, layer). Empty for a run without checkpoints."""
        rows = [{**f.row, "epoch": ep, "test_accuracy": self.run.accuracy.get(ep)}
                for ep, fits in self.fits.items() if ep is not None for f in fits]
        return pd.DataFrame(rows)


def run_eigenspectra(model: str = "minilm", arrays=None, *, farms: bool = False,
                     randomize: bool = False, label: str = "",
                     device: str | None = None) -> EigenspectraRun:
    """Eigenvalues of every layer of `model`: "minilm", "random" (MiniLM's shapes, random
    init), "mlp" (the digits MLP at each of ``MLP_CHECKPOINTS``), "upload" with `arrays`
    (named arrays, e.g. :func:`read_weights_upload`'s), or any torch module / dict of
    arrays / path / matrix :func:`workbench.eigenspectra.spectra` accepts (model "own").
    ``farms``, ``randomize``: also the FARMS and the shuffled-weights ESDs.

    Returns an EigenspectraRun. Cost: per layer one Gram product + eigvalsh (MiniLM ~1 s,
    FARMS ~2 s, randomize ~3 s); "mlp" first trains the MLP (~1-3 s, once per process).
    ShapeError when nothing in the weights has a matrix spectrum."""
    from workbench.eigenspectra import sources
    from workbench.eigenspectra.analyze import spectra

    t0 = time.perf_counter()
    kw = dict(farms=farms, randomize=randomize, farms_size=128, device=device)
    accuracy: dict = {}
    if not isinstance(model, str):
        model, arrays = "own", model
    if model == "mlp":
        specs, skipped = {}, []
        for ck in sources.mlp_checkpoints():
            s, skipped = spectra(ck.weights, **{**kw, "farms_size": 64})
            specs[ck.epoch] = tuple(s)
            accuracy[ck.epoch] = ck.test_accuracy
    else:
        if model in ("minilm", "random"):
            arrays = sources.weights_of(model)
        elif arrays is None:
            raise InputFormatError("upload a .safetensors, .npz or .npy file first")
        s, skipped = spectra(arrays, **kw)
        specs = {None: tuple(s)}
    if not any(specs.values()):
        raise ShapeError("no layer of these weights has a matrix spectrum to analyze")
    return EigenspectraRun(model=model, label=label or sources.LABELS.get(model, model),
                           specs=specs, skipped=tuple(skipped), accuracy=accuracy,
                           farms=bool(farms), randomize=bool(randomize),
                           seconds=time.perf_counter() - t0)
