"""Eigenspectra explorer: per-layer power-law alpha of a model's weight matrices, the ESD
of one layer with its fit and Marchenko–Pastur bulk, alphas during training, and
random-matrix demos.

Costly work (loading weights, training the digits MLP, eigenvalues of every layer) runs in
``run_background`` and is cached across sessions by (model, FARMS, randomize). Everything
else works on the cached eigenvalues: a fit option re-fits the selected layer at once
(milliseconds, ``fit_layer``) and the whole table in the background; the layer, the bins
and the checkpoint only redraw. No linear algebra here: ``workbench.eigenspectra`` does it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench.errors import InputFormatError, ShapeError
from workbench.io import UPLOAD_MAX_BYTES
from workbench.ui.base import (
    Explorer,
    later,
    served,
    themed_renderer,
    undelayed,
    while_session_lives,
)

UPLOAD_LIMIT = UPLOAD_MAX_BYTES  # bytes; the server's websocket limit fits it (workbench.io)
MLP_EPOCHS = 60
MLP_CHECKPOINTS = (0, 1, 2, 5, 10, 20, 40, 60)
MODELS = {"MiniLM-L6 (pretrained)": "minilm", "digits MLP (trained here)": "mlp",
          "random init (MiniLM shapes)": "random", "uploaded file": "upload"}
FINITE = {"auto (below 20 eigenvalues)": "auto", "always": "on", "never": "off"}
_FINITE_ARG = {"auto": "auto", "on": True, "off": False}


# ------------------------------------------------------------------ weights (cached)

@lru_cache(maxsize=1)
def _minilm() -> dict:
    from workbench.eigenspectra import load_minilm

    return load_minilm()


@lru_cache(maxsize=2)
def _random_init(seed: int = 0) -> dict:
    from workbench.eigenspectra import random_like

    return random_like(_minilm(), seed=seed)


_train_lock = threading.Lock()


@lru_cache(maxsize=2)
def _mlp_checkpoints(seed: int = 0) -> tuple:
    from workbench.eigenspectra import train_digits_mlp

    with _train_lock:
        return tuple(train_digits_mlp(epochs=MLP_EPOCHS, checkpoints=MLP_CHECKPOINTS,
                                      seed=seed))


@dataclass(frozen=True)
class ModelSpectra:
    """Eigenvalues of every layer of a model, per checkpoint (one entry, None, if the model
    was not trained here). ``info``: checkpoint accuracies, timing."""

    label: str
    specs: dict = field(repr=False)  # epoch | None -> list[LayerSpectrum]
    skipped: list = field(repr=False)
    info: dict = field(default_factory=dict)
    seconds: float = 0.0


def compute_spectra(model: str, arrays: dict | None = None, *, farms: bool = False,
                    randomize: bool = False, label: str = "") -> ModelSpectra:
    """Eigenvalues of every layer of ``model`` ("minilm", "mlp", "random", or "upload" with
    ``arrays``). Cost: one Gram product + eigvalsh per layer (MiniLM: ~1 s, FARMS ~2 s,
    randomize ~3 s); "mlp" first trains the digits MLP (~1-3 s, cached per process)."""
    from workbench.eigenspectra import spectra

    t0 = time.perf_counter()
    kw = dict(farms=farms, randomize=randomize, farms_size=128)
    info: dict = {}
    if model == "mlp":
        cks = _mlp_checkpoints()
        specs, skipped = {}, []
        for ck in cks:
            specs[ck.epoch], skipped = spectra(ck.weights, **{**kw, "farms_size": 64})
        info["accuracy"] = {ck.epoch: ck.test_accuracy for ck in cks}
        label = label or "digits MLP 64-256-128-10"
    else:
        if model == "minilm":
            arrays, label = _minilm(), label or "MiniLM-L6 (all-MiniLM-L6-v2)"
        elif model == "random":
            arrays, label = _random_init(), label or "MiniLM shapes, random Gaussian init"
        elif arrays is None:
            raise InputFormatError("upload a .safetensors, .npz or .npy file first")
        s, skipped = spectra(arrays, **kw)
        specs = {None: s}
    return ModelSpectra(label=label, specs=specs, skipped=skipped, info=info,
                        seconds=time.perf_counter() - t0)


def validate_upload(data: bytes, filename: str | None, max_bytes: int = UPLOAD_LIMIT) -> dict:
    """Named arrays of an uploaded file, checked to hold at least one analyzable matrix.

    Raises InputFormatError (pickle, unknown format, too large, object arrays),
    NonFiniteError (NaN/inf) or ShapeError (nothing with a matrix spectrum), each naming
    the problem. Cost: one read + reshapes (no eigenvalues)."""
    from workbench.eigenspectra import extract_layers
    from workbench.io import load_matrices

    arrays = load_matrices(data, filename=filename, max_bytes=max_bytes)
    layers, skipped = extract_layers(arrays)
    if not layers:
        why = "; ".join(f"{s['name']} (shape {tuple(s['shape'])}): {s['reason']}"
                        for s in skipped[:4])
        raise ShapeError(f"{filename or 'the file'} holds no weight matrix to analyze: {why}. "
                         "Expected 2-D matrices (e.g. 40 x 30) or conv kernels")
    return arrays


# ------------------------------------------------------------------ live Bokeh plots

TABLE_DELAY_MS = 300  # the table refits once the fit options rest this long


def _render_live(overlay, names: tuple) -> dict:
    """Render a HoloViews overlay to a Bokeh figure once. Returns {"fig": figure, name:
    the Bokeh handles (source, glyph, glyph_renderer) of each overlaid element, in order}."""
    from bokeh.document import Document

    renderer = themed_renderer()
    # a document of its own: HoloViews hooks a plot to its document's end, which on the
    # page's would keep every replaced figure alive until the tab closes
    plot = renderer.get_plot(overlay, doc=Document())
    subplots = list(plot.subplots.values())
    if len(subplots) != len(names):
        raise ValueError(f"expected {len(names)} overlaid elements, got {len(subplots)}")
    live = {"fig": plot.state}
    live.update({name: sp.handles for name, sp in zip(names, subplots)})
    return live


def _set_xy(handles: dict, xy) -> None:
    src = handles["source"]
    kx, ky = src.data  # an (x, y) element's two columns
    src.data = {kx: np.asarray(xy[0], dtype=float), ky: np.asarray(xy[1], dtype=float)}


def _set_range(rng, lim) -> None:
    lo, hi = float(lim[0]), float(lim[1])
    rng.update(start=lo, end=hi, reset_start=lo, reset_end=hi)


def _set_span(handles: dict, x: float) -> None:
    shown = bool(np.isfinite(x))
    handles["glyph"].update(location=float(x) if shown else 1.0, visible=shown)


def _set_curve(fig, handles: dict, xy, label: str) -> None:
    """New points and legend label of a curve; without a label it and its entry hide."""
    from bokeh.core.property.vectorization import value

    _set_xy(handles, xy)
    renderer = handles["glyph_renderer"]
    renderer.visible = bool(label)
    for legend in fig.legend:
        for item in legend.items:
            if renderer in item.renderers:
                if label and getattr(item.label, "value", None) != label:
                    item.label = value(label)
                item.visible = bool(label)


def _write_esd(live: dict, parts: dict, hist_only: bool = False) -> None:
    """:func:`workbench.viz.eigenspectra.esd_parts` output into a rendered ESD plot."""
    fig = live["fig"]
    _set_xy(live["esd"], parts["esd_steps"])
    _set_xy(live["esd_points"], parts["esd"])
    if not hist_only:
        _set_curve(fig, live["pl"], parts["pl"], parts["pl_label"])
        _set_span(live["xmin"], parts["xmin"])
        _set_curve(fig, live["mp"], parts["mp"], parts["mp_label"])
        _set_span(live["lambda_plus"], parts["lambda_plus"])
        fig.title.text = parts["title"]
    _set_range(fig.x_range, parts["xlim"])
    _set_range(fig.y_range, parts["ylim"])


def _write_ks(live: dict, parts: dict) -> None:
    """:func:`workbench.viz.eigenspectra.ks_parts` output into a rendered KS plot."""
    _set_xy(live["ks"], parts["ks"])
    _set_span(live["xmin"], parts["xmin"])
    _set_range(live["fig"].x_range, parts["xlim"])
    _set_range(live["fig"].y_range, parts["ylim"])


# ------------------------------------------------------------------ the explorer


class EigenspectraExplorer(Explorer):
    """Weight eigenspectra of a model, layer by layer, and random-matrix baselines."""

    title = "Weight eigenspectra"
    description = ("Heavy-tailed self-regularization: power-law alpha of every weight "
                   "matrix's eigenspectrum, the ESD with its fit and Marchenko–Pastur bulk, "
                   "and random-matrix baselines.")
    url_params = ("layer", "model", "epoch", "bins", "fit", "finite_size", "xmin_q",
                  "xmax_clip", "fix_fingers", "farms", "mp_fit", "randomize",
                  "rmt_Q", "rmt_sigma", "rmt_theta", "rmt_mu", "rmt_M")

    layer = param.Integer(default=0, bounds=(0, 38), doc="Layer shown (click a bar too)")
    model = param.Selector(default="minilm", objects=MODELS, doc="Weights to analyze")
    epoch = param.Selector(default=MLP_CHECKPOINTS[-1], objects=list(MLP_CHECKPOINTS),
                           doc="Training checkpoint of the digits MLP")
    bins = param.Integer(default=60, bounds=(10, 150), doc="Histogram bins of the ESD")
    fit = param.Selector(default="power_law", objects={"power law": "power_law",
                                                       "truncated power law":
                                                           "truncated_power_law"})
    finite_size = param.Selector(default="auto", objects=FINITE,
                                 doc="Bias-corrected fit for few eigenvalues")
    xmin_q = param.Number(default=0.0, bounds=(0.0, 0.95), step=0.05,
                          doc="Search xmin only above this quantile of the ESD")
    xmax_clip = param.Integer(default=0, bounds=(0, 10),
                              doc="Drop this many largest eigenvalues before fitting")
    fix_fingers = param.Boolean(default=False, doc="Clip 'finger' eigenvalues automatically")
    farms = param.Boolean(default=False, doc="FARMS: fixed-aspect-ratio submatrix ESD")
    mp_fit = param.Boolean(default=True, doc="Fit the Marchenko–Pastur bulk, count spikes")
    randomize = param.Boolean(default=False, doc="Shuffled-weights baseline (traps)")

    rmt_Q = param.Number(default=2.0, bounds=(1.0, 10.0), step=0.1, doc="Aspect ratio N/M")
    rmt_sigma = param.Number(default=1.0, bounds=(0.2, 3.0), step=0.1, doc="Entry std")
    rmt_theta = param.Number(default=1.5, bounds=(0.0, 4.0), step=0.05,
                             doc="Planted spike strength theta")
    rmt_mu = param.Number(default=1.0, bounds=(0.5, 5.0), step=0.1,
                          doc="Tail exponent mu of the entries")
    rmt_M = param.Integer(default=300, bounds=(50, 800), step=50, doc="Matrix size M")
    rmt_seed = param.Integer(default=0, bounds=(0, 99), doc="Random seed")

    analyzed = param.Integer(default=0, precedence=-1, doc="Counts tables shown (for tests)")

    def __init__(self, **params):
        super().__init__(**params)
        self._spectra: ModelSpectra | None = None
        self._spectra_key = None
        self._fits: list = []  # LayerFit per layer of the current table
        self._fits_key = None
        self._table = pd.DataFrame()
        self._current = None  # LayerFit shown
        self._upload_arrays: dict | None = None
        self._upload_key = ""
        self._upload_name = ""
        self._traj = pd.DataFrame()
        self._fits_by_epoch: dict = {}
        self._training: ModelSpectra | None = None

        # The bars, the ESD and the KS plot are rendered to Bokeh once (per model, per tab
        # visit) and a layer / bins / fit-option change writes new data into their sources
        # and moves their markers: a HoloViews re-render costs ~150 ms, this a few ms.
        self._bars_live: dict | None = None
        self._esd_live: dict | None = None
        self._ks_live: dict | None = None
        self._table_due = 0  # coalesces table refits after fit-option changes
        self._shown = None  # (spectra, epoch, layer, fit options) drawn in the plots
        # shown with the first table: an empty first frame would fix a numeric x axis
        self._bars_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=320,
                                        css_classes=["wb-es-bars"])
        self._esd_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=380)
        self._ks_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=240)
        self._layer_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._summary = pn.pane.Markdown("Analyzing…", sizing_mode="stretch_width")
        self._traj_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=320)
        self._traj_info = pn.pane.Markdown(
            "Train a small MLP on scikit-learn's digits (64-256-128-10, "
            f"{MLP_EPOCHS} epochs, a few seconds) and watch the alpha of each weight matrix "
            "move during training.", sizing_mode="stretch_width")
        self._train_button = pn.widgets.Button(label="Train the digits MLP", color="primary",
                                               width=220)
        self._train_button.on_click(self.guarded(self.start_training))
        self._table_widget = pn.widgets.Tabulator(pd.DataFrame(), disabled=True,
                                                  pagination="local", page_size=15,
                                                  sizing_mode="stretch_width", height=520,
                                                  show_index=False)
        self._skipped_widget = pn.widgets.Tabulator(pd.DataFrame(), disabled=True,
                                                    pagination="local", page_size=10,
                                                    sizing_mode="stretch_width", height=330,
                                                    show_index=False)
        self._mp_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=320)
        self._bbp_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=320)
        self._overlap_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                               min_height=260)
        self._wigner_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                              min_height=300)
        self._heavy_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                             min_height=300)
        self._rmt_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._rmt_note = pn.pane.Markdown(
            "**How to read these.** *MP*: the eigenvalues of W^T W / N of a noise matrix "
            "fill the Marchenko–Pastur bulk; nothing sits above lambda+. *BBP*: plant a "
            "direction of strength theta in the covariance; above sqrt(gamma) one "
            "eigenvalue leaves the bulk and its eigenvector aligns with the planted one "
            "(overlap); below, the signal is invisible. *Semicircle*: a symmetric noise "
            "matrix. *Heavy tails*: entries with P(|w| > t) ~ t^-mu give an ESD with a "
            "power-law tail, the signature trained layers show (alpha between 2 and 6).",
            sizing_mode="stretch_width")

        self._upload = pn.widgets.FileInput(accept=".safetensors,.npz,.npy",
                                            sizing_mode="stretch_width")
        self._upload.param.watch(self.guarded(self._on_upload), "value")
        self._epoch_widget = pn.widgets.DiscreteSlider.from_param(
            self.param.epoch, name="Training checkpoint (epoch, digits MLP)")
        self._epoch_widget.visible = self.model == "mlp"

        self.param.watch(self._on_model, ["model", "farms", "randomize"])
        self.param.watch(self._on_fit_option, ["fit", "finite_size", "xmin_q", "xmax_clip",
                                               "fix_fingers", "mp_fit"])
        self.param.watch(self._on_layer, ["layer"])
        self.param.watch(self._on_bins, ["bins"])
        self.param.watch(self._on_epoch, ["epoch"])
        self.param.watch(self._on_rmt, ["rmt_Q", "rmt_sigma", "rmt_theta", "rmt_mu",
                                        "rmt_M", "rmt_seed"])
        self._rmt_drawn = False
        self._request_spectra()

    # ------------------------------------------------------------------ options
    def fit_options(self) -> dict:
        """Keyword arguments of :func:`workbench.eigenspectra.fit_layer` from the widgets."""
        return dict(fit=self.fit, finite_size=_FINITE_ARG[self.finite_size],
                    fix_fingers="clip_xmax" if self.fix_fingers else None,
                    xmax_clip=int(self.xmax_clip), mp_fit=bool(self.mp_fit),
                    farms=bool(self.farms))

    def _fit_one(self, spec):
        from workbench.eigenspectra import fit_layer

        opts = self.fit_options()
        esd = spec.farms_evals if (self.farms and spec.farms_evals is not None) else spec.evals
        if self.xmin_q > 0 and esd.size > 2:
            pos = esd[esd > 0]
            if pos.size > 2:
                opts["xmin_range"] = (float(np.quantile(pos, self.xmin_q)), float("inf"))
        return fit_layer(spec, **opts)

    def _options_key(self) -> tuple:
        return (*sorted(self.fit_options().items()), ("xmin_q", round(self.xmin_q, 4)))

    # ------------------------------------------------------------------ spectra
    def _model_key(self) -> tuple:
        if self.model == "upload":
            return ("upload", self._upload_key)
        return (self.model,)

    def _request_spectra(self) -> None:
        model, farms, randomize = self.model, bool(self.farms), bool(self.randomize)
        if model == "upload" and self._upload_arrays is None:
            raise InputFormatError("upload a .safetensors, .npz or .npy file first (sidebar)")
        arrays = self._upload_arrays if model == "upload" else None
        label = self._upload_name if model == "upload" else ""
        key = ("spectra", *self._model_key(), farms, randomize)
        what = {"mlp": "Training the digits MLP and computing its spectra…",
                "minilm": "Eigenvalues of every MiniLM layer…"}.get(model, "Computing spectra…")
        if farms:
            what = what.rstrip("…") + " (+ FARMS)…"

        def work():
            return compute_spectra(model, arrays, farms=farms, randomize=randomize,
                                   label=label)

        self.run_background(key, work,
                            while_session_lives(lambda res: self._set_spectra(key, res)),
                            channel="spectra", label=what)

    def _on_model(self, *_events) -> None:
        self._epoch_widget.visible = self.model == "mlp"
        self.guarded(self._request_spectra)()

    def _set_spectra(self, key, res: ModelSpectra) -> None:
        self._spectra, self._spectra_key = res, key
        self._fits_key = None
        self._request_table()

    def _specs(self) -> list:
        if self._spectra is None:
            return []
        specs = self._spectra.specs
        return specs.get(self.epoch if None not in specs else None, next(iter(specs.values())))

    # ------------------------------------------------------------------ table of fits
    def _request_table(self) -> None:
        if self._spectra is None:
            return
        specs_by_epoch = self._spectra.specs
        key = ("fits", self._spectra_key, self._options_key())
        fit_one = self._fit_one

        def work():
            return {ep: [fit_one(s) for s in specs] for ep, specs in specs_by_epoch.items()}

        # per session only: LayerFits hold arrays, and a refit costs milliseconds per layer
        self.run_background(key, work,
                            while_session_lives(lambda fits: self._set_fits(key, fits)),
                            channel="fits", label="Fitting every layer…", use_cache=False)

    def _set_fits(self, key, fits_by_epoch: dict) -> None:
        self._fits_by_epoch, self._fits_key = fits_by_epoch, key
        ep = self.epoch if None not in fits_by_epoch else None
        fits = fits_by_epoch.get(ep, next(iter(fits_by_epoch.values())))
        self._fits = fits
        self._table = pd.DataFrame([f.row for f in fits])
        n = len(fits)
        if n == 0:
            raise ShapeError("no layer of this model has a matrix spectrum to analyze")
        with param.parameterized.batch_call_watchers(self):
            self.param.layer.bounds = (0, max(n - 1, 1))
            if self.layer > n - 1:
                self.layer = n - 1
        self._show_table()
        if not served(pn.state.curdoc):
            # a notebook syncs data written into Bokeh models only inside widget callbacks:
            # a background result gets new figures, which Panel sends
            self._bars_live = self._esd_live = self._ks_live = self._shown = None
        self._draw_bars()
        self._show_layer(refit=False)
        if None not in fits_by_epoch:  # the digits MLP: its checkpoints are the trajectories
            self._set_training(self._spectra)
        self.analyzed += 1

    def _show_table(self) -> None:
        from workbench.eigenspectra import summary

        df, res = self._table, self._spectra
        cols = [c for c in ["layer_id", "name", "layer_type", "N", "M", "rf", "num_evals",
                            "alpha", "sigma", "D", "xmin", "num_pl_spikes", "alpha_weighted",
                            "log_norm", "log_spectral_norm", "stable_rank", "entropy",
                            "num_spikes", "lambda_plus", "num_traps", "rand_distance",
                            "warning", "reason"] if c in df.columns]
        self._table_widget.value = df[cols].round(4)
        skipped = pd.DataFrame(res.skipped, columns=["name", "shape", "reason"])
        skipped["shape"] = skipped["shape"].map(lambda s: " x ".join(map(str, s)))
        self._skipped_widget.value = skipped
        s = summary(df)
        counts = df["warning"].value_counts()
        ep = f" · epoch {self.epoch}" if None not in res.specs else ""
        farms = " · FARMS ESD" if self.farms else ""
        self._summary.object = (
            f"**{res.label}**{ep}{farms} · {len(df)} layers analyzed, {len(res.skipped)} "
            f"arrays skipped (biases, norms, tiny; see the Table tab) · mean alpha "
            f"**{s.get('alpha', float('nan')):.2f}**, mean alpha_weighted "
            f"{s.get('alpha_weighted', float('nan')):.2f} · "
            f"{int(counts.get('over-trained', 0))} over-trained (< 2), "
            f"{int(counts.get('under-trained', 0))} under-trained (> 6), "
            f"{int(counts.get('fit failed', 0))} failed · eigenvalues in "
            f"{res.seconds:.2f} s")

    # ------------------------------------------------------------------ one layer
    # (Sending each cheap change as one combined message, pn.io.hold, was measured no
    # faster than Bokeh's own event-by-event patches: no hold here.)
    def _on_layer(self, *_events) -> None:
        self.guarded(self._show_layer)(refit=False)

    def _on_bins(self, *_events) -> None:
        self.guarded(self._draw_layer)(esd_only=True)

    def _on_epoch(self, *_events) -> None:
        def show():
            if self._fits_key is not None and self._fits_by_epoch:
                self._set_fits(self._fits_key, self._fits_by_epoch)
        self.guarded(show)()

    def _on_fit_option(self, *_events) -> None:
        # this layer now (ms); every layer once the user pauses, in the background
        self.guarded(self._show_layer)(refit=True)
        self._table_due += 1
        due = self._table_due

        def refit_all():
            if due != self._table_due:
                return  # a newer change follows
            self._request_table()
            if self._training is not None:
                self._show_trajectories()  # 24 small fits
        self._later(refit_all, TABLE_DELAY_MS)

    def _later(self, fn, delay_ms: int = 0) -> None:
        """Run ``fn`` (guarded) after the current update has gone to the browser, or after
        ``delay_ms``; at once outside a served page (notebook, tests)."""
        later(self.guarded(fn), delay_ms)

    def refit_selected(self):
        """Re-fit the selected layer from its cached eigenvalues (no eigenvalue work).
        Returns its LayerFit. Cost: one KS scan (pruned above 1024 eigenvalues)."""
        specs = self._specs()
        if not specs:
            return None
        self._current = self._fit_one(specs[min(self.layer, len(specs) - 1)])
        return self._current

    def _show_layer(self, refit: bool = False) -> None:
        if not self._fits:
            return
        i = min(self.layer, len(self._fits) - 1)
        shown = (self._spectra_key, self.epoch, i, self._options_key())
        # the table lags the fit options by a refit in the background
        fresh = self._fits_key is None or self._fits_key[-1] == self._options_key()
        if refit or not fresh:
            self._current = self.refit_selected()
        else:
            self._current = self._fits[i]
            if shown == self._shown and self._esd_live is not None:
                # the table refit after a fit-option change: this layer is drawn already
                self._select_bar()
                return
        # the ESD and KS plots first; the bar outline and the text follow once they are sent
        self._draw_layer()
        self._shown = shown
        self._later(self._select_bar)

    # Bars: rendered per table of names, then the selected outline and the alphas are
    # written into the rendered source; a tap on a bar selects its layer.
    def _draw_bars(self) -> None:
        from workbench.viz.eigenspectra import (
            alpha_bars,
            alpha_bars_data,
            alpha_ylim,
        )

        df = self._table
        i = min(self.layer, len(df) - 1)
        selected = df["name"].iloc[i] if len(df) else None
        names = tuple(df["name"])
        live = self._bars_live
        if live is not None and live["names"] == names:
            src = live["bars"]["source"]
            src.data = alpha_bars_data(df, selected)
            _set_range(live["fig"].y_range, alpha_ylim(df))
            return
        live = _render_live(alpha_bars(df, selected), ("bars", "guide2", "guide6"))
        live["names"] = names
        live["bars"]["source"].selected.on_change("indices", self._on_bar_tap)
        self._bars_live = live
        self._bars_pane.object = live["fig"]

    def _select_bar(self) -> None:
        """Outline the shown layer's bar (only its outline column is sent)."""
        from workbench.viz.eigenspectra import selected_line

        live = self._bars_live
        if live is None or not self._fits:
            return
        src = live["bars"]["source"]
        i = min(self.layer, len(self._fits) - 1)
        line = selected_line(src.data["name"], self._fits[i].row["name"])
        if not np.array_equal(line, src.data["line"]):
            src.data.update(line=line, line_width=line)

    def _on_bar_tap(self, _attr, _old, new) -> None:
        if not new:
            return  # our own clearing below
        src = self._bars_live["bars"]["source"]

        def tap():
            # cleared, so that a tap on the same bar after moving the slider counts again
            self._later(lambda: setattr(src.selected, "indices", []))
            if 0 <= new[0] < len(self._fits):
                self.layer = int(new[0])

        doc = self._bars_live["fig"].document if self._bars_live else None
        if doc is not None and pn.state.curdoc is not doc:
            from panel.io.state import set_curdoc

            with set_curdoc(doc):
                self.guarded(tap)()
        else:
            self.guarded(tap)()

    def _draw_layer(self, esd_only: bool = False) -> None:
        """Write the selected layer into the ESD (and KS) plot, rendered on first use;
        ``esd_only``: the histogram alone (bins changed)."""
        from workbench.viz.eigenspectra import (
            ESD_PARTS,
            esd_overlay,
            esd_parts,
            ks_overlay,
            ks_parts,
        )

        lf = self._current
        if lf is None:
            return
        spec = self._specs()[min(self.layer, len(self._specs()) - 1)]
        parts = esd_parts(lf, spec, bins=int(self.bins))
        if self._esd_live is None:
            self._esd_live = _render_live(esd_overlay(parts, complete=True), ESD_PARTS)
            self._esd_pane.object = self._esd_live["fig"]
        _write_esd(self._esd_live, parts, hist_only=esd_only)
        if esd_only:
            return
        ks = ks_parts(lf)
        if self._ks_live is None:
            self._ks_live = _render_live(ks_overlay(ks, complete=True), ("ks", "xmin"))
            self._ks_pane.object = self._ks_live["fig"]
        _write_ks(self._ks_live, ks)
        self._later(self._show_layer_info)

    def _redraw(self) -> None:
        """Render the layer plots anew (when their tab shows again)."""
        self._bars_live = self._esd_live = self._ks_live = self._shown = None
        if self._fits:
            self._draw_bars()
            self._show_layer(refit=False)

    def _show_layer_info(self) -> None:
        lf = self._current
        if lf is None:
            return
        r, pl = lf.row, lf.powerlaw
        lines = [f"**{r['name']}** ({r['layer_type']}, {r['N']} x {r['M']}"
                 + (f", {r['rf']} kernel positions pooled" if r["rf"] > 1 else "") + ")",
                 f"- alpha = **{r['alpha']:.3f}** ± {r['sigma']:.3f} (KS D = {r['D']:.3f}), "
                 f"xmin = {r['xmin']:.4g}, {r['num_pl_spikes']} eigenvalues in the tail",
                 f"- alpha_weighted = {r['alpha_weighted']:.3f}, log_norm = "
                 f"{r['log_norm']:.3f}, stable rank = {r['stable_rank']:.2f}, "
                 f"entropy = {r['entropy']:.3f}"]
        if lf.mp is not None:
            lines.append(f"- MP bulk edge lambda+ = {lf.mp.lambda_plus:.4g} (entry std "
                         f"{lf.mp.sigma_mp:.3g}); **{lf.mp.num_spikes} spikes** above it")
        if lf.rand_mp is not None:
            lines.append(f"- shuffled weights: {lf.rand_mp.num_spikes} spikes (correlation "
                         f"traps), JS distance to the real ESD {r['rand_distance']:.3f}")
        if pl.fit == "truncated_power_law" and pl.ok:
            lines.append(f"- truncated power law: Lambda = {pl.Lambda:.3g}")
        if r.get("num_fingers"):
            lines.append(f"- clipped {r['num_fingers']} finger eigenvalue(s); alpha before: "
                         f"{r['raw_alpha']:.3f}")
        if r.get("reason"):
            lines.append(f"- note: {r['reason']}")
        if not pl.ok:
            lines.append("- **fit failed**: the reason above says why")
        self._layer_info.object = "\n".join(lines)

    # ------------------------------------------------------------------ training tab
    def start_training(self, *_events) -> None:
        """Train the digits MLP (background, cached across sessions) for the Training tab."""
        if self._training is not None:
            return
        self.run_background(("spectra", "mlp", False, False),
                            lambda: compute_spectra("mlp"),
                            while_session_lives(self._set_training),
                            channel="train", label="Training the digits MLP…")

    def _set_training(self, res: ModelSpectra) -> None:
        self._training = res
        self._show_trajectories()

    def _show_trajectories(self) -> None:
        from workbench.viz.eigenspectra import alpha_trajectories

        res = self._training
        if res is None:
            return
        opts = {**self.fit_options(), "farms": False, "mp_fit": False}
        from workbench.eigenspectra import fit_layer

        acc = res.info.get("accuracy", {})
        rows = [{**fit_layer(s, **opts).row, "epoch": e, "test_accuracy": acc.get(e)}
                for e, specs in res.specs.items() for s in specs]
        self._traj = pd.DataFrame(rows)
        self._traj_pane.object = alpha_trajectories(self._traj[["epoch", "name", "alpha"]])
        self._train_button.visible = False
        self._traj_info.object = (
            "**Digits MLP 64-256-128-10**, SGD with momentum, checkpoints at epochs "
            f"{', '.join(map(str, res.specs))}. Test accuracy: "
            + ", ".join(f"{e}: {a:.0%}" for e, a in acc.items())
            + ". As the network learns, the ESDs of its weight matrices grow heavy tails "
            "and alpha falls from its random-init value. Pick *digits MLP* as the model to "
            "inspect one checkpoint's layers.")

    # ------------------------------------------------------------------ upload
    def _on_upload(self, event) -> None:
        if not event.new:
            return
        data = bytes(event.new)
        name = self._upload.filename or "upload"
        arrays = validate_upload(data, name)
        self._upload_arrays = arrays
        self._upload_key = hashlib.sha1(data).hexdigest()
        self._upload_name = f"uploaded {name}"
        if self.model == "upload":
            self._request_spectra()
        else:
            self.model = "upload"

    # ------------------------------------------------------------------ random matrices
    def _on_rmt(self, *_events) -> None:
        if self._rmt_drawn:
            self.guarded(self._draw_rmt)()

    def rmt_samples(self) -> dict:
        """Samples for the random-matrix tab (each an M x M eigvalsh, M = rmt_M)."""
        from workbench.eigenspectra import fit_powerlaw, rmt

        M, Q, seed = int(self.rmt_M), float(self.rmt_Q), int(self.rmt_seed)
        N = int(round(Q * M))
        gamma = M / N
        spiked, overlap = rmt.sample_spiked_covariance(N, M, self.rmt_theta, seed=seed)
        heavy = rmt.sample_heavy_tailed(N, M, self.rmt_mu, seed=seed)
        return {
            "mp": rmt.sample_mp(N, M, sigma=self.rmt_sigma, seed=seed), "N": N, "M": M,
            "gamma": gamma, "spiked": spiked, "overlap": overlap,
            "wigner": rmt.sample_wigner(M, sigma=self.rmt_sigma, seed=seed),
            "heavy": heavy, "heavy_fit": fit_powerlaw(heavy),
        }

    def _draw_rmt(self) -> None:
        from workbench.eigenspectra import rmt
        from workbench.viz.eigenspectra import (
            bbp_plot,
            heavy_tail_plot,
            mp_demo_plot,
            overlap_plot,
            semicircle_plot,
        )

        self._rmt_drawn = True
        s = self.rmt_samples()
        Q, g, th = float(self.rmt_Q), s["gamma"], float(self.rmt_theta)
        Q_eff = s["N"] / s["M"]  # N is rounded to an integer
        self._mp_pane.object = mp_demo_plot(s["mp"], Q_eff, self.rmt_sigma)
        self._bbp_pane.object = bbp_plot(s["spiked"], th, g, s["overlap"])
        self._overlap_pane.object = overlap_plot(g, observed=(th, s["overlap"]))
        self._wigner_pane.object = semicircle_plot(s["wigner"], self.rmt_sigma)
        self._heavy_pane.object = heavy_tail_plot(s["heavy"], self.rmt_mu, s["heavy_fit"])
        lo, hi = rmt.mp_edges(Q_eff, self.rmt_sigma)
        above = th > rmt.bbp_threshold(g)
        self._rmt_info.object = (
            f"W is {s['N']} x {s['M']} (Q = {Q:.2f}, gamma = M/N = {g:.3f}). "
            f"**MP**: bulk on [{lo:.3g}, {hi:.3g}], largest sample {s['mp'][-1]:.3g}. "
            f"**BBP**: threshold sqrt(gamma) = {rmt.bbp_threshold(g):.3f}; theta = {th:.2f} is "
            f"{'above: an outlier at' if above else 'below: no outlier, the top stays at'} "
            f"{rmt.spike_location(th, g):.3f} (observed {s['spiked'][-1]:.3f}); overlap "
            f"|<v, u>|^2 = {s['overlap']:.3f} (theory {rmt.spike_overlap(th, g):.3f}). "
            f"**Heavy tails**: entries with tail exponent mu = {self.rmt_mu:.1f} give a fitted "
            f"alpha = {s['heavy_fit'].alpha:.2f}"
            + (f" (theory 1 + mu/2 = {rmt.heavy_tail_alpha(self.rmt_mu):.2f})."
               if self.rmt_mu < 2 else " (mu >= 2: no universal exponent)."))

    # ------------------------------------------------------------------ export, layout
    def export_data(self) -> pd.DataFrame | None:
        return self._table

    def controls(self) -> list:
        def section(text):
            return pn.pane.Markdown(f"**{text}**", margin=(12, 5, 0, 5))

        return [
            undelayed(pn.widgets.IntSlider.from_param(self.param.layer,
                                                       name="Layer (or click a bar)")),
            pn.widgets.Select.from_param(self.param.model, name="Model"),
            self._epoch_widget,
            pn.pane.Markdown("Or upload weights (.safetensors, .npz, .npy; no pickles, "
                             f"at most {UPLOAD_LIMIT // 2**20} MiB):", margin=(8, 5, 0, 5)),
            self._upload,
            section("Power-law fit"),
            pn.widgets.RadioButtonGroup.from_param(self.param.fit, name="Fit"),
            undelayed(pn.widgets.FloatSlider.from_param(
                self.param.xmin_q, name="xmin above quantile of the ESD")),
            undelayed(pn.widgets.IntSlider.from_param(
                self.param.xmax_clip, name="Drop largest eigenvalues (fingers)")),
            pn.widgets.Checkbox.from_param(self.param.fix_fingers,
                                           name="Clip fingers automatically"),
            pn.widgets.Select.from_param(self.param.finite_size,
                                         name="Finite-size correction"),
            section("Spectra"),
            pn.widgets.Checkbox.from_param(self.param.farms,
                                           name="FARMS (no aspect-ratio bias)"),
            pn.widgets.Checkbox.from_param(self.param.mp_fit,
                                           name="Marchenko–Pastur fit (spikes)"),
            pn.widgets.Checkbox.from_param(self.param.randomize,
                                           name="Shuffled baseline (traps)"),
            undelayed(pn.widgets.IntSlider.from_param(self.param.bins,
                                                       name="Histogram bins")),
        ]

    def _rmt_controls(self):
        def slider(p, name):
            kind = pn.widgets.IntSlider if isinstance(p, param.Integer) else \
                pn.widgets.FloatSlider
            return kind.from_param(p, name=name, width=260)

        return pn.GridBox(
            slider(self.param.rmt_Q, "Aspect ratio Q = N/M"),
            slider(self.param.rmt_sigma, "Entry std sigma"),
            slider(self.param.rmt_theta, "Spike strength theta (BBP)"),
            slider(self.param.rmt_mu, "Heavy-tail exponent mu"),
            slider(self.param.rmt_M, "Size M"),
            slider(self.param.rmt_seed, "Seed"),
            ncols=3, sizing_mode="stretch_width")

    def view(self):
        legend = pn.pane.HTML(
            "<span style='color:#2ca02c'>&#9632;</span> typical 2 &lt; alpha &lt; 6 &nbsp; "
            "<span style='color:#d62728'>&#9632;</span> over-trained / very heavy tail "
            "(&lt; 2) &nbsp; <span style='color:#ff7f0e'>&#9632;</span> under-trained "
            "(&gt; 6) &nbsp; <span style='color:#8c6d31'>&#9632;</span> exponential tail "
            "&nbsp; <span style='color:#7f7f7f'>&#9632;</span> fit failed "
            "(reason in the hover)", styles={"font-size": "0.85em"})
        layers = pn.Column(
            self._summary, self._bars_pane, legend,
            pn.Row(pn.Column(self._esd_pane, sizing_mode="stretch_width"),
                   pn.Column(self._layer_info, self._ks_pane, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        training = pn.Column(self._traj_info, self._train_button, self._traj_pane,
                             sizing_mode="stretch_width")
        rmt = pn.Column(
            self._rmt_controls(), self._rmt_info,
            pn.Row(self._mp_pane, self._bbp_pane, sizing_mode="stretch_width"),
            pn.Row(self._overlap_pane, self._wigner_pane, sizing_mode="stretch_width"),
            pn.Row(self._heavy_pane, self._rmt_note, sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        table = pn.Column(pn.pane.Markdown("**Metrics per layer** (WeightWatcher's column "
                                           "names; download as CSV in the sidebar)"),
                          self._table_widget,
                          pn.pane.Markdown("**Skipped arrays**, with the reason"),
                          self._skipped_widget, sizing_mode="stretch_width")
        tabs = pn.Tabs(("Layers", layers), ("Training", training), ("Random matrices", rmt),
                       ("Table", table), dynamic=True, sizing_mode="stretch_width")

        def on_tab(event):
            # plots are (re)drawn when their tab shows: Bokeh log axes drawn while hidden
            # stay blank
            if event.new == 0:
                self.guarded(self._redraw)()
            elif event.new == 1:
                self.guarded(self.start_training)()
                self.guarded(self._show_trajectories)()
            elif event.new == 2:
                self.guarded(self._draw_rmt)()

        tabs.param.watch(on_tab, "active")
        return tabs

