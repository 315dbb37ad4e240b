"""Hessian explorer: train a small network, watch its curvature spectrum.

Costly work (training with tracked sharpness, the Hessian spectrum at every checkpoint, then
the GGN and Fisher spectra at the end) runs in the background through
``Explorer.run_background``: cached across sessions by the settings, superseded by newer
requests. The view parameters (density broadening, checkpoint shown, log scale) only
re-plot cached results: the plots are rendered to Bokeh once per result and a slider step
writes new data into them (a few ms on the server; see ``_update_view``). All numbers come
from ``workbench.hessian``; plots from ``workbench.viz.hessian``.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pandas as pd
import panel as pn
import param

from workbench.errors import InputFormatError
from workbench.ui.base import Explorer, _on_session, later, themed_renderer, undelayed

DEMOS = {"bulk + outliers (Sagun et al.)": "bulk_and_outliers",
         "edge of stability (Cohen et al.)": "edge_of_stability", "custom": None}
CONFIG_FIELDS = ("dataset", "num_samples", "num_classes", "dim", "separation", "model",
                 "width", "depth", "activation", "loss", "optimizer", "lr", "batch_size",
                 "steps")
ESTIMATOR_FIELDS = ("k", "num_probes", "num_steps", "trace_matvecs")

BULK_TEXT = (
    "**Bulk and outliers** (Sagun et al. 2017). After training, almost all eigenvalues sit "
    "in a bulk near zero and a few outliers (red spikes) stand apart, about one per class "
    "(C−1 to C). Change the number of classes and count the spikes; widen the network and "
    "the bulk at zero takes a larger share of the spectrum while the outliers stay; change "
    "the separation of the data and the outliers move.")
EOS_TEXT = (
    "**Edge of stability** (Cohen et al. 2021). With full-batch gradient descent at step "
    "size η, the sharpness (top Hessian eigenvalue) rises until it reaches 2/η, the largest "
    "curvature at which GD is stable, and then hovers there while the loss keeps falling, "
    "no longer monotonically. Pick the *edge of stability* demo and change η: the plateau "
    "follows the dashed line. (With SGD or Adam the line is only a reference.)")
COMPARE_TEXT = (
    "**Hessian vs Gauss–Newton vs Fisher.** The GGN keeps only the curvature of the loss "
    "in the network's outputs (J^T H_L J): it is positive semi-definite and, for "
    "cross-entropy, equal to the true Fisher. The Hessian adds the network's own second "
    "derivatives (its negative eigenvalues come from there). The empirical Fisher averages "
    "g g^T of the per-sample gradients at the observed labels: it shrinks as the model "
    "fits the data.")


# The models here are small: one torch thread per product is faster than two, and far
# faster on a loaded machine (two OpenMP threads on two busy cores spin-wait: measured
# 2 s -> 20-45 s for the default experiment). Hessian jobs of all sessions run one at a
# time, single-threaded, so the other background worker stays free for other work.
_TORCH_LOCK = threading.Lock()


def _one_thread(fn):
    """`fn` wrapped to run under the module lock with torch/BLAS capped at one thread
    (sessions asking for the same result meanwhile join the run: Explorer.run_background)."""
    def run():
        from workbench.backends import limited_threads

        with _TORCH_LOCK, limited_threads(1):
            return fn()

    return run




def _render(element):
    """A HoloViews element as a Bokeh figure (rendered once, then updated in place), in
    the page's Bokeh theme: the dark template sets one on the document, and HoloViews
    writes its light defaults into the figure unless told (pn.pane.HoloViews tells it)."""
    return themed_renderer().get_plot(element).state


def _label(item) -> str:
    """The text of a Bokeh LegendItem's label."""
    return str(getattr(item.label, "value", item.label))


def _vspans(fig) -> list:
    """The vertical marker lines of a figure (hv.VLine -> Bokeh Span)."""
    from bokeh.models import Span

    return [s for s in fig.select({"type": Span}) if s.dimension == "height"]


def _set(model, **props) -> None:
    """Set only the properties that change (an unchanged value sends no message)."""
    changed = {k: v for k, v in props.items() if getattr(model, k) != v}
    if changed:
        model.update(**changed)


def _status_updater(explorer: Explorer, label: str):
    """A progress(fraction) callback for worker threads: shows 'label NN%' in the status
    line (on the session's event loop), at most every 10%."""
    doc = pn.state.curdoc
    last = [-1]

    def progress(frac: float) -> None:
        pct = int(10 * frac) * 10
        if pct != last[0] and not explorer.detached():
            last[0] = pct
            _on_session(doc, lambda: explorer.set_status(f"{label} {pct}%"))

    return progress


class HessianExplorer(Explorer):
    """Train a small network on generated data and look at its Hessian spectrum."""

    title = "Hessian spectra"
    description = ("Train a small network and watch its loss curvature: spectral density "
                   "with outliers, top eigenvalues, trace, sharpness vs 2/η, and Hessian vs "
                   "Gauss-Newton vs Fisher.")
    url_params = ("broadening", "checkpoint", "logy", "demo", *CONFIG_FIELDS,
                  *ESTIMATOR_FIELDS)

    # ---- view (cheap: re-plot cached results)
    broadening = param.Number(default=1.0, bounds=(0.25, 4.0), step=0.25,
                              doc="Density broadening (x the estimator's own width)")
    checkpoint = param.Integer(default=4, bounds=(0, 4),
                               doc="Checkpoint shown (0 = initialization)")
    logy = param.Boolean(default=True, doc="Log-scale density")
    # ---- experiment (costly: background)
    demo = param.Selector(default="bulk + outliers (Sagun et al.)", objects=list(DEMOS))
    dataset = param.Selector(default="gaussian_mixture",
                             objects=["gaussian_mixture", "two_moons", "digits"])
    num_samples = param.Integer(default=512, bounds=(32, 1797))
    num_classes = param.Integer(default=4, bounds=(2, 10), doc="Gaussian mixture only")
    dim = param.Integer(default=10, bounds=(2, 64), doc="Gaussian mixture only")
    separation = param.Number(default=12.0, bounds=(0.5, 30.0), doc="Gaussian mixture only")
    model = param.Selector(default="mlp", objects=["mlp", "cnn"])
    width = param.Integer(default=32, bounds=(2, 256))
    depth = param.Integer(default=2, bounds=(1, 4))
    activation = param.Selector(default="relu", objects=["relu", "tanh", "gelu", "sigmoid",
                                                         "softplus", "elu"])
    loss = param.Selector(default="cross_entropy", objects=["cross_entropy", "mse"])
    optimizer = param.Selector(default="sgd", objects=["gd", "sgd", "adam"])
    lr = param.Number(default=0.05, bounds=(1e-4, 5.0))
    batch_size = param.Integer(default=64, bounds=(1, 1797))
    steps = param.Integer(default=100, bounds=(0, 2000))
    k = param.Integer(default=10, bounds=(1, 40), doc="Top eigenvalues (at least 2C + 2)")
    num_probes = param.Integer(default=4, bounds=(1, 32), doc="SLQ probe vectors")
    num_steps = param.Integer(default=32, bounds=(4, 120), doc="Lanczos steps per probe")
    trace_matvecs = param.Integer(default=40, bounds=(4, 400), doc="XTrace products")
    run = param.Event(doc="Recompute (cached results are reused)")
    runs = param.Integer(default=0, precedence=-1, doc="Results shown (for tests)")

    def __init__(self, **params):
        super().__init__(**params)
        self._result = None       # ExperimentResult (final spectrum)
        self._checkpoints = None  # Hessian spectra at every snapshot (stage 2)
        self._compare = None      # {kind: CurvatureSpectrum} at the end (stage 3)
        self._applying = False
        self._requested = None  # key of the experiment asked for last
        self._summary = pn.pane.Markdown("", sizing_mode="stretch_width")
        # Plots are rendered to Bokeh once per result (and per log/linear scale); the view
        # parameters only write new data into the rendered sources, axis ranges, titles and
        # marker lines (see _update_spectrum): re-rendering HoloViews objects cost ~300-500
        # ms per slider step on the server plus a new layout in the browser.
        self._live: dict[str, object] = {}
        self._curves: dict = {}   # (id(spectrum), broadening) -> (spectrum, curve)
        self._deferred = False    # text updates scheduled after the plots (_update_view)
        self._pending_compare = self._pending_text = False
        bk = dict(sizing_mode="stretch_width")
        self._density = pn.pane.Bokeh(None, min_height=340, **bk)
        self._top = pn.pane.Bokeh(None, min_height=300, **bk)
        self._over = pn.pane.Bokeh(None, min_height=300, **bk)
        self._loss = pn.pane.Bokeh(None, min_height=300, **bk)
        self._sharp = pn.pane.Bokeh(None, min_height=300, **bk)
        self._eos = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._cmp_density = pn.pane.Bokeh(None, min_height=340, **bk)
        self._cmp_top = pn.pane.Bokeh(None, min_height=300, **bk)
        self._cmp_info = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._checkpoint_widget = undelayed(pn.widgets.IntSlider.from_param(
            self.param.checkpoint, name="Checkpoint shown"))
        self._mixture_widgets = [
            pn.widgets.IntInput.from_param(self.param.num_classes, name="Classes (mixture)"),
            pn.widgets.IntInput.from_param(self.param.dim, name="Dimension (mixture)"),
            pn.widgets.FloatInput.from_param(self.param.separation, step=0.5,
                                             name="Class separation (mixture)")]
        self.param.watch(self._on_dataset, ["dataset"])
        self._on_dataset()
        self.param.watch(self._on_demo, ["demo"])
        self.param.watch(self._on_settings, [*CONFIG_FIELDS, *ESTIMATOR_FIELDS, "run"])
        self.param.watch(self._on_view, ["broadening", "checkpoint", "logy"])
        # served: after the URL state is applied (no wasted run on the defaults);
        # in a notebook: at once
        pn.state.onload(self._initial)

    def _initial(self) -> None:
        if self._requested is None:
            self.guarded(self._compute)()

    # ------------------------------------------------------------------ settings
    def config(self):
        """The ExperimentConfig of the current settings (sharpness tracked ~40 times)."""
        from workbench.hessian.experiments import ExperimentConfig

        kw = {f: getattr(self, f) for f in CONFIG_FIELDS}
        return ExperimentConfig(**kw, sharpness_every=max(1, self.steps // 40),
                                num_snapshots=5)

    def estimator(self) -> dict:
        """Estimator settings; k is raised to 2C + 2 so the bulk's edge is among the top-k."""
        k = max(self.k, 2 * self._num_classes() + 2)
        return dict(k=k, num_probes=self.num_probes, num_steps=self.num_steps,
                    trace_matvecs=self.trace_matvecs)

    def _on_dataset(self, *_events) -> None:
        for w in self._mixture_widgets:
            w.disabled = self.dataset != "gaussian_mixture"

    def _num_classes(self) -> int:
        return {"two_moons": 2, "digits": 10}.get(self.dataset, self.num_classes)

    def _on_demo(self, *_events) -> None:
        from workbench.hessian.experiments import PRESETS

        name = DEMOS.get(self.demo)
        if name is None:
            return
        preset = PRESETS[name]
        self._applying = True
        try:
            with param.parameterized.batch_call_watchers(self):
                self.param.update(**{f: getattr(preset, f) for f in CONFIG_FIELDS})
        finally:
            self._applying = False
        self.guarded(self._compute)()

    def _on_settings(self, *events) -> None:
        if self._applying:
            return
        from workbench.hessian.experiments import PRESETS

        name = DEMOS.get(self.demo)
        if name is not None and any(getattr(PRESETS[name], f) != getattr(self, f)
                                    for f in CONFIG_FIELDS):
            self._applying = True
            try:
                self.demo = "custom"
            finally:
                self._applying = False
        self.guarded(self._compute)(force=any(e.name == "run" for e in events))

    # ------------------------------------------------------------------ background work
    def _compute(self, force: bool = False) -> None:
        """Stage 1: train + the final Hessian spectrum (first view). It chains stage 2
        (spectra at the earlier checkpoints), which chains stage 3 (GGN and Fisher), so
        one session never runs two of them at once. Stages 2-3 run on their own channel
        (they never supersede a newer stage 1) and are dropped when their result is no
        longer the one shown."""
        from workbench.hessian.experiments import run_experiment

        cfg = self.config()
        if cfg.model == "cnn" and cfg.dataset != "digits":
            raise InputFormatError("the CNN is made for the 8x8 digits: choose the digits "
                                   "data set or the MLP")
        est = self.estimator()
        key = ("experiment", dataclasses.astuple(cfg), tuple(sorted(est.items())))
        if key == self._requested and not force and self.busy:
            return  # the same request is already running
        self._requested = key
        progress = _status_updater(self, "Training and computing the spectrum…")

        def work():
            return run_experiment(cfg, kinds=("hessian",), progress=progress, **est)

        self.run_background(key, _one_thread(work), self._set_result,
                            channel="experiment",
                            label="Training and computing the spectrum…",
                            use_cache=not force)

    def _key(self, stage: str, result) -> tuple:
        est = tuple(sorted((k, v) for k, v in result.settings.items() if k != "kinds"))
        return (stage, dataclasses.astuple(result.config), est)

    def _set_result(self, result) -> None:
        if self._key("experiment", result) != self._requested:
            return  # a newer request was made meanwhile (notebook: delivered off-loop)
        self._result, self._checkpoints, self._compare = result, None, None
        self._refresh()
        self.runs += 1
        from workbench.hessian.experiments import checkpoint_spectra

        progress = _status_updater(self, "Spectra at the earlier checkpoints…")
        key = self._key("checkpoints", result)
        self.run_background(key, _one_thread(
                                lambda: checkpoint_spectra(result, progress=progress)),
                            lambda cps: self._set_checkpoints(result, cps),
                            channel="followup", label="Spectra at the earlier checkpoints…")

    def _set_checkpoints(self, result, cps) -> None:
        if result is not self._result:
            return
        self._checkpoints = cps
        self._refresh()
        self._compute_compare(result)

    def _compute_compare(self, result) -> None:
        from workbench.hessian.models import make_loss
        from workbench.hessian.spectrum import compare_curvatures

        cfg = result.config
        est = {k: v for k, v in result.settings.items() if k != "kinds"}
        final = result.spectra["hessian"]

        def work():
            out = compare_curvatures(result.training.model, make_loss(cfg.loss),
                                     result.dataset.pair(), kinds=("ggn", "fisher"),
                                     seed=cfg.seed, **est)
            return {"hessian": final, **out}

        key = self._key("compare", result)
        self.run_background(key, _one_thread(work),
                            lambda sp: self._set_compare(result, sp), channel="followup",
                            label="Gauss-Newton and Fisher spectra…")

    def _set_compare(self, result, spectra) -> None:
        if result is not self._result:
            return
        self._refresh_compare(spectra)

    # ------------------------------------------------------------------ view
    def _on_view(self, *events) -> None:
        names = {e.name for e in events}
        if "logy" in names:  # another axis type: render the density plots anew
            self.guarded(self._refresh)(training=False)
        else:
            self.guarded(self._update_view)(checkpoint="checkpoint" in names,
                                            broadening="broadening" in names)

    def spectra(self) -> list:
        """Hessian spectra available: one per checkpoint once stage 2 is in, else the
        final one only."""
        if self._result is None:
            return []
        return list(self._checkpoints or (self._result.spectra["hessian"],))

    def shown(self):
        """The CurvatureSpectrum of the checkpoint shown (None before the first result;
        the final one while the earlier checkpoints are being computed)."""
        sp = self.spectra()
        if not sp:
            return None
        if self._checkpoints is None:
            return sp[-1]
        return sp[min(self.checkpoint, len(sp) - 1)]

    def _refresh(self, training: bool = True, compare: bool = True) -> None:
        """Render the plots of the current results to Bokeh (a new result, the earlier
        checkpoints or another y scale): the density and top-k always, the training plots
        when `training`, the comparison when `compare`; then the text."""
        res, spec = self._result, self.shown()
        if res is None or spec is None or self.detached():
            return
        t0 = time.perf_counter()
        self._build_spectrum(spec)
        if training:
            self._build_training()
        self._update_spectrum(spec)  # ranges and legend, before the figures are shown
        live = self._live
        self._density.object, self._top.object = live["density"], live["top"]
        if training:
            self._over.object, self._loss.object, self._sharp.object = (
                live["over"], live["loss"], live["sharp"])
        if compare:
            self._refresh_compare()
        self._update_text()
        self.set_status(f"plotted in {1e3 * (time.perf_counter() - t0):.0f} ms")

    def _push_notebook(self, *panes) -> None:
        """In a notebook, send the in-place changes of these panes' figures to the page
        (Panel pushes only the changes it makes itself; a served page gets them as they
        happen)."""
        if self._doc is None:
            pn.io.push_notebook(*panes)


    def _density_title(self, spec) -> str:
        cfg = self._result.config
        classes = {"two_moons": 2, "digits": 10}.get(cfg.dataset, cfg.num_classes)
        return (f"Hessian spectral density at step {spec.step} "
                f"({spec.num_outliers} outliers, {classes} classes)")

    def _build_spectrum(self, spec) -> None:
        """Render the density (with a layer per marker role, empty or not) and the top-k
        bars of `spec` (not shown yet); keep their sources for _update_spectrum."""
        from bokeh.models import GlyphRenderer, Patch

        from workbench.viz.hessian import density_plot, top_eigs_plot

        grid, dens = self._curve(spec)
        fig = _render(density_plot(grid, dens, spec.top_values, spec.num_outliers,
                                   spec.min_value, logy=self.logy,
                                   title=self._density_title(spec), all_roles=True))
        live = self._live
        live["density"] = fig
        live["area"] = next(r.data_source for r in fig.select({"type": GlyphRenderer})
                            if isinstance(r.glyph, Patch))
        live["markers"] = {_label(item): item for legend in fig.legend
                           for item in legend.items}
        top = _render(top_eigs_plot(spec.top_values, spec.num_outliers,
                                    title=self._top_title(spec)))
        live["top"] = top
        live["top_source"] = next(iter(top.select({"type": GlyphRenderer}))).data_source

    def _top_title(self, spec) -> str:
        return f"Top {len(spec.top_values)} eigenvalues at step {spec.step}"

    def _build_training(self) -> None:
        """Render the plots over training (not shown yet; their checkpoint marker is moved
        in place)."""
        from workbench.viz.hessian import loss_plot, over_training_plot, sharpness_plot

        res, spec, cps = self._result, self.shown(), self.spectra()
        tr = res.training
        snaps = tr.snapshots
        kmin = min(len(c.top_values) for c in cps)
        over = _render(over_training_plot(
            [c.step for c in cps], np.array([c.top_values[:kmin] for c in cps]),
            current_step=spec.step,
            title="Top eigenvalues at the checkpoints" if self._checkpoints
            else "Top eigenvalues (earlier checkpoints: computing…)"))
        loss = _render(loss_plot(tr.steps, tr.loss, [s.step for s in snaps],
                                 [s.loss for s in snaps], current_step=spec.step))
        sharp = _render(sharpness_plot(tr.sharpness_steps, tr.sharpness, res.config.lr,
                                       current_step=spec.step))
        self._live.update(over=over, loss=loss, sharp=sharp,
                          spans=[*_vspans(over), *_vspans(loss), *_vspans(sharp)])

    def _curve(self, spec) -> tuple[np.ndarray, np.ndarray]:
        """(grid, density) of `spec` at the current broadening, cached per result (a
        slider walking back and forth re-uses them; O(grid x nodes) once each)."""
        from workbench.hessian.spectrum import density_curve

        key = (id(spec), self.broadening)
        hit = self._curves.get(key)
        if hit is None or hit[0] is not spec:
            if len(self._curves) > 256:
                self._curves.clear()
            hit = self._curves[key] = (spec, density_curve(spec.density, self.broadening))
        return hit[1]

    def _update_spectrum(self, spec, checkpoint: bool = True) -> None:
        """Write `spec` at the current broadening into the rendered density plot (data,
        ranges, title); with `checkpoint` also into the top-k plot and move the checkpoint
        markers. No plot is rebuilt. (Not under ``pn.io.hold``: its single message leaves
        the server ~10 ms later than the plain ones, which go out as the callback ends.)"""
        from workbench.viz.hessian import density_columns, top_eigs_columns

        live = self._live
        if "density" not in live:
            return
        grid, dens = self._curve(spec)
        cols = density_columns(grid, dens, spec.top_values, spec.num_outliers,
                               spec.min_value, logy=self.logy)
        fig = live["density"]
        live["area"].data = cols["area"]
        for role, data in cols["markers"].items():
            item = live["markers"].get(role)
            if item is not None:
                item.renderers[0].data_source.data = data
                _set(item, visible=len(data["x0"]) > 0)
        _set(fig.x_range, start=cols["xlim"][0], end=cols["xlim"][1])
        _set(fig.y_range, start=cols["ylim"][0], end=cols["ylim"][1])
        _set(fig.title, text=self._density_title(spec))
        if not checkpoint:
            return
        top = top_eigs_columns(spec.top_values, spec.num_outliers)
        tfig = live["top"]
        live["top_source"].data = top["source"]
        if list(tfig.x_range.factors) != top["factors"]:
            tfig.x_range.factors = top["factors"]
        _set(tfig.y_range, start=top["ylim"][0], end=top["ylim"][1])
        _set(tfig.title, text=self._top_title(spec))
        for span in live.get("spans", ()):
            _set(span, location=float(spec.step))

    #: served pages: ms between a view change and the text updates that follow it
    TEXT_DELAY_MS = 150

    def _update_view(self, checkpoint: bool = True, broadening: bool = True) -> None:
        """A view parameter moved: the shown plots at once (in place, one message), the
        rest once the browser has drawn them: on a served page the text (summary,
        checkpoint label, status) and the comparison tab follow TEXT_DELAY_MS later,
        coalesced while the slider moves (text that changes with the plots makes the
        browser lay the page out again before it paints them)."""
        spec = self.shown()
        if spec is None:
            return
        t0 = time.perf_counter()
        self._update_spectrum(spec, checkpoint=checkpoint)
        self._push_notebook(self._density, self._top, self._over, self._loss, self._sharp)
        plot_ms = 1e3 * (time.perf_counter() - t0)
        self._pending_compare |= broadening
        self._pending_text |= checkpoint
        if self._deferred:
            return
        self._deferred = True

        def text():
            self._deferred = False
            if self._pending_compare:
                self._pending_compare = False
                self._update_compare()
                self._push_notebook(self._cmp_density)
            if self._pending_text:
                self._pending_text = False
                self._update_text()
            self.set_status(f"re-plotted in {plot_ms:.0f} ms")

        later(self.guarded(text), self.TEXT_DELAY_MS)

    def _update_text(self) -> None:
        """Summary, sharpness sentence and checkpoint slider label of the shown checkpoint
        (reads the results; no products)."""
        from workbench.hessian.experiments import outlier_summary, sharpness_summary

        res, spec = self._result, self.shown()
        if res is None or spec is None:
            return
        cps = self.spectra()
        tr = res.training
        snap = next(s for s in tr.snapshots if s.step == spec.step)
        out = outlier_summary(spec)
        cost = sum(c.num_matvecs for c in cps) + tr.num_hvps
        self._summary.object = (
            f"**{res.num_params:,} parameters**, {res.dataset.num_samples} samples · "
            f"step {spec.step}: loss {snap.loss:.4g}, accuracy {snap.accuracy:.1%} · "
            f"λ1 = {spec.top_values[0]:.4g}, λmin = {spec.min_value:.3g} · "
            f"trace = {spec.trace:.4g} ± {spec.trace_std:.2g} (XTrace) · "
            f"**{out['num_outliers']} outliers** above the bulk, "
            f"{out['near_zero_mass']:.0%} of the spectrum within 5% of λ1 of zero · "
            f"{cost:,} Hessian-vector products" +
            ("" if self._checkpoints else " (earlier checkpoints: computing…)"))
        if tr.sharpness.size:
            s = sharpness_summary(tr, res.config.lr)
            reached = (f"reached 0.9 × 2/η at step {s['first_step']}, then averaged "
                       f"{s['mean_after']:.3g} (±{s['rel_spread_after']:.0%})"
                       if s["first_step"] >= 0 else "stayed below 2/η")
            self._eos.object = (f"Sharpness {s['initial']:.3g} at step 0, max "
                                f"{s['max']:.3g}; 2/η = {s['threshold']:.3g}: {reached}. "
                                f"Optimizer: {res.config.optimizer}, η = {res.config.lr:g}.")
        self._checkpoint_widget.name = f"Checkpoint shown (step {spec.step})"
        self._checkpoint_widget.disabled = self._checkpoints is None

    def _compare_curves(self, spectra: dict) -> dict:
        from workbench.hessian.spectrum import density_curve

        # one broadening and one grid for all three, so the curves compare like for like
        sigma = max(sp.density.sigma for sp in spectra.values())
        lo = min(sp.density.nodes.min() for sp in spectra.values()) - 4 * sigma
        hi = max(sp.density.nodes.max() for sp in spectra.values()) + 4 * sigma
        return {kind: density_curve(sp.density, self.broadening, span=(lo, hi), sigma=sigma)
                for kind, sp in spectra.items()}

    def _refresh_compare(self, spectra: dict | None = None) -> None:
        """Render the comparison tab of `spectra` (default: the ones shown), then hold
        them as the ones shown (so ``_compare`` is set once its plots are)."""
        from workbench.viz.hessian import compare_density_plot, compare_top_plot

        spectra = spectra or self._compare
        if self.detached():
            self._compare = spectra
            return
        if not spectra:
            self._cmp_info.object = "*Gauss-Newton and Fisher spectra are being computed…*"
            return
        rows = [{"index": f"λ{i + 1}", "kind": kind, "eigenvalue": float(v)}
                for kind, sp in spectra.items() for i, v in enumerate(sp.top_values[:8])]
        fig = _render(compare_density_plot(self._compare_curves(spectra), logy=self.logy))
        self._live["compare"] = fig
        self._live["compare_items"] = {_label(item): item for legend in fig.legend
                                       for item in legend.items}
        self._update_compare(spectra)
        self._cmp_density.object = fig
        self._cmp_top.object = _render(compare_top_plot(pd.DataFrame(rows)))
        self._cmp_info.object = " · ".join(
            f"**{kind}**: λ1 = {sp.top_values[0]:.4g}, λmin = {sp.min_value:.3g}, "
            f"trace = {sp.trace:.4g} ± {sp.trace_std:.2g}"
            for kind, sp in spectra.items()) + " (at the last checkpoint)"
        self._compare = spectra

    def _update_compare(self, spectra: dict | None = None) -> None:
        """Write the comparison densities at the current broadening into their plot."""
        from workbench.viz.hessian import compare_density_columns

        spectra = spectra or self._compare
        fig = self._live.get("compare")
        if fig is None or not spectra:
            return
        cols = compare_density_columns(self._compare_curves(spectra), logy=self.logy)
        for label, data in cols["sources"].items():
            item = self._live["compare_items"].get(label)
            if item is not None:
                item.renderers[0].data_source.data = data
        _set(fig.x_range, start=cols["xlim"][0], end=cols["xlim"][1])
        _set(fig.y_range, start=cols["ylim"][0], end=cols["ylim"][1])

    # ------------------------------------------------------------------ export
    def export_data(self) -> pd.DataFrame | None:
        """Long table behind the view: the density and top eigenvalues at the shown
        checkpoint, and the tracked sharpness."""
        spec = self.shown()
        if spec is None:
            return None
        grid, dens = self._curve(spec)
        tr = self._result.training
        parts = [pd.DataFrame({"series": "density", "step": spec.step, "x": grid, "y": dens}),
                 pd.DataFrame({"series": "top eigenvalue", "step": spec.step,
                               "x": np.arange(1, len(spec.top_values) + 1),
                               "y": spec.top_values}),
                 pd.DataFrame({"series": "sharpness", "step": tr.sharpness_steps,
                               "x": tr.sharpness_steps, "y": tr.sharpness})]
        return pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        w = pn.widgets

        def sel(p, name):
            return w.Select.from_param(p, name=name)

        def num(p, name, step=None):
            kw = {"step": step} if step else {}
            return (w.FloatInput if isinstance(p, param.Number) and not isinstance(
                p, param.Integer) else w.IntInput).from_param(p, name=name, **kw)

        p = self.param
        return [
            undelayed(w.FloatSlider.from_param(p.broadening, name="Density broadening (× σ)")),
            self._checkpoint_widget,
            w.Checkbox.from_param(p.logy, name="log-scale density"),
            pn.pane.Markdown("**Demo**", margin=(10, 5, 0, 5)),
            sel(p.demo, "Preset"),
            pn.Card(sel(p.dataset, "Data set"), num(p.num_samples, "Samples"),
                    *self._mixture_widgets, title="Data", collapsed=False,
                    sizing_mode="stretch_width"),
            pn.Card(sel(p.model, "Model"), num(p.width, "Width"), num(p.depth, "Hidden layers"),
                    sel(p.activation, "Activation"), sel(p.loss, "Loss"),
                    title="Model", collapsed=False, sizing_mode="stretch_width"),
            pn.Card(sel(p.optimizer, "Optimizer (gd = full batch)"),
                    num(p.lr, "Learning rate η", 0.01), num(p.batch_size, "Batch size"),
                    num(p.steps, "Steps"), title="Training", collapsed=False,
                    sizing_mode="stretch_width"),
            pn.Card(num(p.k, "Top eigenvalues k"), num(p.num_probes, "SLQ probes"),
                    num(p.num_steps, "Lanczos steps per probe"),
                    num(p.trace_matvecs, "Trace products (XTrace)"),
                    title="Estimators", collapsed=True, sizing_mode="stretch_width"),
            w.Button.from_param(p.run, name="Recompute", button_type="primary"),
        ]

    def view(self):
        spectrum = pn.Column(pn.pane.Markdown(BULK_TEXT, sizing_mode="stretch_width"),
                             self._density, pn.Row(self._top, self._over,
                                                   sizing_mode="stretch_width"),
                             sizing_mode="stretch_width")
        training = pn.Column(pn.pane.Markdown(EOS_TEXT, sizing_mode="stretch_width"),
                             self._eos, self._sharp, self._loss, sizing_mode="stretch_width")
        compare = pn.Column(pn.pane.Markdown(COMPARE_TEXT, sizing_mode="stretch_width"),
                            self._cmp_info, self._cmp_density, self._cmp_top,
                            sizing_mode="stretch_width")
        tabs = pn.Tabs(("Spectrum", spectrum), ("Sharpness & loss", training),
                       ("Hessian vs GGN vs Fisher", compare), dynamic=True,
                       sizing_mode="stretch_width")
        return pn.Column(self._summary, tabs, sizing_mode="stretch_width")
