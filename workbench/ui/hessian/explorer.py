"""Hessian explorer: train a small network, watch its curvature spectrum.

The costly part is a ``workbench.hessian.HessianRun`` built in three keyed background
stages (training + the final spectrum, the earlier checkpoints, GGN and Fisher). The view
parameters only read it: ``run.at(checkpoint, broadening)`` -> ``viz.hessian.*_columns``
-> ``LiveFigure.write``. The settings (``explorer.settings``, a ``HessianSettings``) keep
their names in the URL.
"""

from __future__ import annotations

import panel as pn
import param

from workbench.hessian.run import check_settings, run_hessian
from workbench.hessian.settings import DensityView, HessianSettings, fields
from workbench.jobs import CACHE
from workbench.ui.base import Explorer, col, control, section, text
from workbench.ui.hessian.approximations import ApproximationsTab
from workbench.ui.hessian.blocks import TITLE as LAYERS_TITLE
from workbench.ui.hessian.blocks import LayersTab
from workbench.ui.hessian.controls import settings_controls
from workbench.ui.hessian.tabs import CompareTab, SpectrumTab, TrainingTab, torch_job
from workbench.ui.session import later, served
from workbench.viz.text import hessian_summary

DEMOS = {"bulk + outliers (Sagun et al.)": "bulk_and_outliers",
         "edge of stability (Cohen et al.)": "edge_of_stability", "custom": None}
#: the settings the URL keeps (the widgets' fields)
URL_FIELDS = fields(HessianSettings, shown=True)
SPECTRUM, TRAINING, COMPARE, LAYERS, APPROXIMATIONS = range(5)  # the tabs


class HessianExplorer(Explorer, DensityView):
    """Train a small network on generated data and look at its Hessian spectrum.
    Settings may be given as keywords (``HessianExplorer(width=64)``) or as
    ``settings=HessianSettings(...)``."""

    title = "Hessian spectra"
    description = ("Train a small network and watch its loss curvature: spectral density "
                   "with outliers, top eigenvalues, trace, sharpness vs 2/η, and Hessian vs "
                   "Gauss-Newton vs Fisher.")
    url_params = ("broadening", "checkpoint", "logy", "demo", *URL_FIELDS)

    checkpoint = param.Integer(default=4, bounds=(0, 4), label="Checkpoint shown",
                               doc="Checkpoint shown (0 = initialization)")
    demo = param.Selector(default="bulk + outliers (Sagun et al.)", objects=list(DEMOS),
                          label="Preset")
    settings = param.ClassSelector(class_=HessianSettings, precedence=-1,
                                   doc="Data, model, training and estimators")
    run = param.Event(label="Recompute", doc="Recompute (cached results are reused)")
    runs = param.Integer(default=0, precedence=-1, doc="Results shown (for tests)")

    TEXT_DELAY_MS = 150  #: served: ms from a view change to the text updates after it

    def __init__(self, **params):
        given = {k: params.pop(k) for k in list(params) if k in URL_FIELDS}
        params.setdefault("settings", HessianSettings(sharpness_every=None))
        super().__init__(**params)
        self.settings.param.update(**given)
        self.result = None      # the HessianRun shown (stages fill it in)
        self._requested = None  # key of the run asked for last
        self._waiting = set()   # view names moved since the deferred updates last ran
        self._view = None  # the view drawn last (its text follows: _deferred_updates)
        self.spectrum, self.training, self.compare = SpectrumTab(), TrainingTab(), CompareTab()
        # tabs drawn with every result: a served page draws a hidden tab when it is first
        # shown (a new session pays for the tab it shows); a notebook draws them all
        self._drawn_tabs = {SPECTRUM} if served(self._doc) else {SPECTRUM, TRAINING, COMPARE}
        self.approximations = ApproximationsTab(self)  # computed once its tab is shown
        self.layers = LayersTab(self)  # computes once shown
        self._summary = text()
        self._checkpoint_widget = control(self.param.checkpoint, fast=True)
        self.settings.param.watch(self._on_settings, URL_FIELDS)
        self.param.watch(self._on_demo, ["demo"])
        self.param.watch(lambda *_: self.guarded(self._compute)(force=True), ["run"])
        self.param.watch(self._on_view, ["broadening", "checkpoint", "logy"])
        # served: after the URL state is applied (no wasted run on the defaults)
        pn.state.onload(self._initial)

    @classmethod
    def from_model(cls, model, loss_fn, data, label: str = "your model", **run_options):
        """A ``ModelHessianExplorer`` (model.py) on your torch `model`, loss
        `loss_fn(output, target)` and `data` ((X, y), batches or a DataLoader);
        `run_options` go to ``run_model_hessian``. Costs one background run; a problem is
        a message in its alert."""
        from workbench.ui.hessian.model import ModelHessianExplorer

        return ModelHessianExplorer(model, loss_fn, data, label=label,
                                    run_options=run_options)

    def _initial(self) -> None:
        if self._requested is None:
            self.guarded(self._compute)()

    def figures(self) -> list:
        return [*self.spectrum.figures(), *self.training.figures(), *self.compare.figures()]

    # ------------------------------------------------------------------ settings
    def _on_demo(self, *_events) -> None:
        """A demo chosen: its preset's settings, in one change (``_on_settings`` computes;
        settings that are the preset already need nothing new)."""
        name = DEMOS.get(self.demo)
        if name is not None:
            with param.parameterized.batch_call_watchers(self.settings):
                self.settings.param.update(**self.settings.preset_changes(name))

    def _on_settings(self, *_events) -> None:
        name = DEMOS.get(self.demo)
        if name is not None and self.settings.preset_changes(name):
            self.demo = "custom"  # (a demo without a preset: _on_demo does nothing)
        self.guarded(self._compute)()

    # ------------------------------------------------------------------ background work
    def _compute(self, force: bool = False) -> None:
        """Stage 1: train + the final Hessian spectrum (first view). It chains stage 2
        (spectra at the earlier checkpoints), which chains stage 3 (GGN and Fisher), so
        one session never runs two of them at once. Stages 2-3 run on their own channel
        and are dropped when their run is no longer the one asked for."""
        check_settings(self.settings)
        key = ("run", self.settings.key())
        if key == self._requested and not force and self.busy:
            return  # the same request is already running
        self._requested = key
        values = self.settings.param.values()  # a copy: the widgets may move meanwhile
        torch_job(self, key, lambda progress: run_hessian(
                      checkpoints=False, compare=False, progress=progress, **values),
                  lambda run: self._set_run(key, run), channel="experiment",
                  label="Training and computing the spectrum…", use_cache=not force)

    def _set_run(self, key, run) -> None:
        """Show `run` (a stage of the run asked for last) and chain the next stage. Stages
        already computed (by another session, or the server's warm-up) are skipped to: a
        new session on a finished run draws its figures once, not once per stage."""
        if key != self._requested:
            return  # a newer request was made meanwhile (notebook: delivered off-loop)
        for stage in ("checkpoints", "compare"):
            later_stage = CACHE.get((type(self).__name__, (*key, stage)))
            if later_stage is None:
                break
            run = later_stage
        first = self.result is None or self.result.experiment is not run.experiment
        self._refresh(run)
        if first:
            self.runs += 1
        if run.checkpoints is None:
            stage, work, label = ("checkpoints", run.with_checkpoints,
                                  "Spectra at the earlier checkpoints…")
        elif run.compare is None:
            stage, work, label = "compare", run.with_compare, "Gauss-Newton and Fisher spectra…"
        else:
            return
        torch_job(self, (*key, stage), work, lambda nxt: self._set_run(key, nxt),
                  channel="followup", label=label)

    # ------------------------------------------------------------------ view
    def _refresh(self, run=None, training: bool = True) -> None:
        """Draw `run` (default: the one shown) anew, the training tab only when
        `training`; then hold it as ``result`` (set once its figures are drawn)."""
        run = run or self.result
        if run is None or self.detached():
            self.result = run
            return
        view = run.at(self.checkpoint, self.broadening)
        self.spectrum.render(run, view, self.logy, over=training)
        self._draw(run, view, self._drawn_tabs if training else self._drawn_tabs - {TRAINING})
        self.result = run
        self._update_text(view)

    def _on_view(self, *events) -> None:
        """A view parameter moved: the shown plots at once, in place (run.at -> columns ->
        LiveFigure.write); on a served page the text and the comparison tab follow
        TEXT_DELAY_MS later, coalesced while the slider moves (text that changes with the
        plots makes the browser lay the page out again before it paints them)."""
        names = {e.name for e in events}
        if "logy" in names:  # another axis type: draw the density plots anew
            self.guarded(self._refresh)(training=False)
            return
        if self.result is None:
            return
        view = self._view = self.result.at(self.checkpoint, self.broadening, compare=False)
        moved = "checkpoint" in names
        self.spectrum.update(view, self.logy, checkpoint=moved)
        if moved:
            self.training.update(view)
        for fig in self.figures():
            fig.push()
        scheduled, self._waiting = bool(self._waiting), self._waiting | names
        if not scheduled:  # (`later` runs it at once outside a served page)
            later(self.guarded(self._deferred_updates), self.TEXT_DELAY_MS)

    def _deferred_updates(self) -> None:
        names, self._waiting = self._waiting, set()
        if "broadening" in names:
            self.compare.update(self.result.compare_at(self.broadening), self.logy)
            self.compare.density.push()
        if "checkpoint" in names:
            self._update_text(self._view)

    def _update_text(self, view) -> None:
        """Summary and checkpoint slider label of `view` (reads the run; no products)."""
        self._summary.object = hessian_summary(self.result.experiment, view)
        self._checkpoint_widget.name = f"Checkpoint shown (step {view.step})"
        self._checkpoint_widget.disabled = not view.checkpoints_ready

    def export_data(self):
        """Long table behind the view (``HessianRun.export``)."""
        if self.result is None:
            return None
        return self.result.export(self.checkpoint, self.broadening)

    def url_sources(self) -> list:
        return [self.settings]  # the settings keep their own names in the URL

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        p = self.param
        return [control(p.broadening, fast=True), self._checkpoint_widget, control(p.logy),
                section("Demo"), control(p.demo), *settings_controls(self.settings),
                control(p.run, button_type="primary")]

    def view(self):
        tabs = pn.Tabs(("Spectrum", self.spectrum), ("Sharpness & loss", self.training),
                       ("Hessian vs GGN vs Fisher", self.compare),
                       (LAYERS_TITLE, self.layers),
                       ("Curvature approximations", self.approximations), dynamic=True,
                       sizing_mode="stretch_width")
        tabs.param.watch(self.guarded(self._on_tab), "active")
        return col(self._summary, tabs)

    def _on_tab(self, event) -> None:
        """A tab shown: the costly tabs compute; a served page's training or comparison
        tab shown first draws the result shown."""
        if event.new == APPROXIMATIONS:
            self.approximations.start()
        if event.new == LAYERS:
            self.layers.activate()
        if event.new in self._drawn_tabs or event.new not in (TRAINING, COMPARE):
            return
        self._drawn_tabs.add(event.new)
        if self.result is not None and not self.detached():
            self._draw(self.result, self.result.at(self.checkpoint, self.broadening),
                       {event.new})

    def _draw(self, run, view, tabs) -> None:
        """Render the training and comparison tabs among `tabs` from `view` of `run`."""
        if TRAINING in tabs:
            self.training.render(run, view)
        if COMPARE in tabs:
            self.compare.render(view, self.logy)
