"""Eigenspectra explorer: per-layer power-law alpha of a model's weight matrices, the ESD
of one layer with its fit and Marchenko–Pastur bulk, alphas during training, and
random-matrix demos.

Two keyed background requests (cached, shared across sessions) feed every tab: the run
(``run_eigenspectra``: every layer's eigenvalues) and its fit table (``run.fit(options)``).
A fit option refits the selected layer at once (``run.at``) and the table once the options
rest; the layer and the bins only re-read the table (``fits.at``)."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from workbench.eigenspectra.settings import EigenspectraSettings, RMTSettings
from workbench.errors import InputFormatError
from workbench.ui.base import Explorer, control, section, upload_box
from workbench.ui.eigenspectra.collapse import CollapseTab
from workbench.ui.eigenspectra.layers import LayersTab
from workbench.ui.eigenspectra.random_matrices import RandomMatricesTab
from workbench.ui.eigenspectra.table import TableTab
from workbench.ui.eigenspectra.training import TrainingTab
from workbench.ui.session import later, while_session_lives
from workbench.viz import eigenspectra as ve

TABLE_DELAY_MS = 300  # the table refits once the fit options rest this long
RMT_PREFIX = "rmt_"  # URL names of the random-matrix settings: rmt_Q, rmt_theta, ...


class EigenspectraExplorer(Explorer):
    """Weight eigenspectra of a model, layer by layer, and random-matrix baselines.
    ``settings`` (EigenspectraSettings) and ``rmt`` (RMTSettings) hold what is shown;
    keyword arguments named like their parameters (``rmt_`` + name for the latter) set
    them."""

    title = "Weight eigenspectra"
    description = ("Heavy-tailed self-regularization: power-law alpha of every weight "
                   "matrix's eigenspectrum, the ESD with its fit and Marchenko–Pastur bulk, "
                   "and random-matrix baselines.")
    url_params = (*list(EigenspectraSettings.param)[1:],   # every setting, by its name
                  *(RMT_PREFIX + n for n in ("Q", "sigma", "theta", "mu", "M")))

    settings = param.ClassSelector(class_=EigenspectraSettings, precedence=-1)
    rmt = param.ClassSelector(class_=RMTSettings, precedence=-1)
    analyzed = param.Integer(default=0, precedence=-1, doc="Counts tables shown (for tests)")

    def __init__(self, weights=None, weights_label: str = "your model", _start: bool = True,
                 **params):
        own = {k: params.pop(k) for k in list(params) if k in self.param}
        sub = {k: params.pop(k) for k in list(params) if k in EigenspectraSettings.param}
        digest = ""
        if weights is not None:  # checked before anything is built
            from workbench.eigenspectra.sources import weights_digest

            digest = weights_digest(weights, weights_label)
            sub["model"] = "upload"
        rmt = {k[len(RMT_PREFIX):]: params.pop(k) for k in list(params)
               if k.startswith(RMT_PREFIX) and k[len(RMT_PREFIX):] in RMTSettings.param}
        if params:
            raise TypeError(f"unknown parameters {sorted(params)}")
        own.setdefault("settings", EigenspectraSettings(**sub))
        own.setdefault("rmt", RMTSettings(**rmt))
        super().__init__(**own)
        # the EigenspectraRun shown, its FitTable for the current options, the run's key
        self.run = self.fits = self._run_key = None
        # the model "upload" (an uploaded file's or the user's own weights): arrays, digest
        # (the run's key) and label
        self._weights = (weights, digest, weights_label)
        self._table_due = 0  # coalesces table refits after fit-option changes

        self.layers = LayersTab(self)
        self.training = TrainingTab(self)
        self.random_matrices = RandomMatricesTab(self, self.rmt)
        self.table = TableTab()
        self.collapse = CollapseTab(self)  # computed once its tab is shown
        self._upload_line, self._upload = upload_box(
            ".safetensors,.npz,.npy", "weights (.safetensors, .npz, .npy; no pickles)",
            self.guarded(self._on_upload))
        self._epoch_widget = control(self.settings.param.epoch, widget=pn.widgets.DiscreteSlider,
                                     visible=self.settings.model == "mlp")
        self.settings.param.watch(self.guarded(self.request_run), list(EigenspectraSettings.RUN))
        self.settings.param.watch(self.guarded(self._show_fits), ["epoch"])
        if _start:
            self.request_run()

    @classmethod
    def from_model(cls, model, label: str = "your model", **params) -> EigenspectraExplorer:
        """The explorer on your own weights: a torch ``nn.Module``, a state dict or dict of
        arrays, a path (.safetensors file or folder, .npz, .npy) or one matrix; ``params``
        set the settings. Weights it cannot take (nothing with a matrix spectrum, an
        unreadable file): the explorer with the problem in its alert, nothing computed.
        Costs an upload's run (background; cached by a digest of the weights)."""
        from workbench.errors import WorkbenchError

        try:
            return cls(weights=model, weights_label=label, **params)
        except WorkbenchError as exc:
            explorer = cls(_start=False, **params)
            explorer.show_error(str(exc))
            return explorer

    # ------------------------------------------------------------------ the run
    def request_run(self, *_events) -> None:
        """Eigenvalues of every layer for the current settings (background, keyed); also
        the handler of the model and the spectra options."""
        from workbench.eigenspectra.run import run_eigenspectra

        s = self.settings
        self._epoch_widget.visible = s.model == "mlp"
        model, farms, randomize = s.model, bool(s.farms), bool(s.randomize)
        arrays, digest, label = self._weights if model == "upload" else (None, "", "")
        if model == "upload" and arrays is None:
            raise InputFormatError("upload a .safetensors, .npz or .npy file first (sidebar)")
        key = s.run_key(digest)

        def done(run):
            self.run, self._run_key = run, key
            self.request_fits()

        self.run_background(key, lambda: run_eigenspectra(model, arrays, farms=farms,
                                                          randomize=randomize, label=label),
                            while_session_lives(done), channel="spectra",
                            label=ve.run_status(model, farms))

    # ------------------------------------------------------------------ the fit table
    def request_fits(self) -> None:
        """Every layer of the run fitted with the current options (background, keyed)."""
        run, options = self.run, self.settings.fit_options()
        if run is None:
            return
        self.run_background(("fits", self._run_key, options), lambda: run.fit(options),
                            while_session_lives(self._set_fits), channel="fits",
                            label="Fitting every layer…")

    def request_fits_soon(self) -> None:
        """``request_fits`` once the fit options have rested ``TABLE_DELAY_MS`` (and the
        training tab's refit with it)."""
        self._table_due += 1
        due = self._table_due

        def refit_all():
            if due == self._table_due:  # else a newer change follows
                self.request_fits()
                self.training.refit()

        later(self.guarded(refit_all), TABLE_DELAY_MS)

    def _set_fits(self, fits) -> None:
        self.fits = fits
        self._show_fits()
        if fits.run.model == "mlp" and not fits.run.farms and not fits.run.randomize:
            self.training.start()  # its checkpoints are the trajectories (cached run)
        self.analyzed += 1

    def _show_fits(self, *_events) -> None:
        fits = self.fits
        if fits is None:
            return
        self.settings.set_layers(len(fits.layer_fits(self.settings.epoch)))
        self.layers.show(fits)
        self.table.show(fits, self.settings.epoch)

    # ------------------------------------------------------------------ upload
    def _on_upload(self, event) -> None:
        from workbench.eigenspectra.sources import uploaded_weights

        if not event.new:
            return
        self._weights = uploaded_weights(bytes(event.new), self._upload.filename or "upload")
        if self.settings.model == "upload":
            self.request_run()
        else:
            self.settings.model = "upload"

    # ------------------------------------------------------------------ URL state
    def _url_owner(self, name: str):
        """The URL names are the settings' (``rmt_`` + name for the demos')."""
        return self.rmt if name.startswith(RMT_PREFIX) else self.settings

    def _url_param(self, name: str) -> str:
        return name[len(RMT_PREFIX):] if name.startswith(RMT_PREFIX) else name

    # ------------------------------------------------------------------ export, layout
    def export_data(self) -> pd.DataFrame | None:
        return self.layers.table

    def controls(self) -> list:
        p = self.settings.param
        return [
            control(p.layer, fast=True), control(p.model), self._epoch_widget,
            self._upload_line, self._upload,
            section("Power-law fit"), control(p.fit, widget=pn.widgets.RadioButtonGroup),
            control(p.xmin_q, fast=True), control(p.xmax_clip, fast=True),
            control(p.fix_fingers), control(p.finite_size),
            section("Spectra"), *map(control, (p.farms, p.mp_fit, p.randomize)),
            control(p.bins, fast=True),
        ]

    def view(self):
        tabs = pn.Tabs(("Layers", self.layers), ("Training", self.training),
                       ("Random matrices", self.random_matrices), ("Table", self.table),
                       ("Neural collapse", self.collapse),
                       dynamic=True, sizing_mode="stretch_width")
        # figures are (re)drawn when their tab shows: Bokeh log axes drawn while hidden
        # stay blank
        on_show = {0: self.layers.redraw, 1: self.training.start,
                   2: self.random_matrices.draw, 4: self.collapse.start}

        def on_tab(event):
            if event.new in on_show:
                self.guarded(on_show[event.new])()

        tabs.param.watch(on_tab, "active")
        return tabs
