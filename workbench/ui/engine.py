"""Spectral engine playground: Lanczos, SLQ and KPM on test spectra with known eigenvalues.

A test spectrum (bulk + outliers, Marchenko-Pastur, clustered, ...) becomes an O(n)-per-
product operator; one background run (``workbench.spectral.playground.run_playground``)
computes SLQ and KPM at the largest step count, probe 0's Ritz values at every step and
the top_eigs / power-iteration race. The "Lanczos steps shown" and "broadening" sliders
then only re-read what is stored (``PlaygroundRun.at``): no new products, a few ms.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from workbench.spectral.settings import PlaygroundSettings
from workbench.ui.base import Explorer, col, control, row, text
from workbench.ui.live import LiveFigure, hold
from workbench.ui.session import later, while_session_lives
from workbench.viz import spectral as vs
from workbench.viz.text import playground_summary


class EngineExplorer(Explorer, PlaygroundSettings):
    """Spectral engine playground (see the module docstring); its settings are
    ``PlaygroundSettings``' (``workbench.spectral.settings``)."""

    title = "Spectral engine playground"
    description = ("Lanczos, SLQ and KPM on test spectra with known eigenvalues: density "
                   "estimates against the exact histogram, Ritz values converging step by "
                   "step (outliers first), top_eigs against power iteration.")
    url_params = ("step", "broadening", "spectrum", "n", "max_steps", "probes", "k", "seed",
                  "kpm", "logy")

    computed = param.Integer(default=0, precedence=-1, doc="Runs delivered (for tests)")
    updated = param.Integer(default=0, precedence=-1, doc="Views drawn (for tests)")

    def __init__(self, **params):
        super().__init__(**params)
        self._run = None
        self._view = None
        # figures rendered once per run; a step writes into their sources (LiveFigure)
        self._density = LiveFigure("wb-engine-density", min_height=380)
        self._nodes = LiveFigure("wb-engine-nodes", min_height=320)
        self._ritz = LiveFigure("wb-engine-ritz", min_height=400)
        self._race = LiveFigure("wb-engine-race", min_height=300)
        # fixed height: a text that changes with every step must not re-layout the page
        self._info = text(css="wb-engine-info", height=96)
        self._step_slider = control(self.param.step, fast=True, start=1, end=self.max_steps)
        self._broadening_slider = control(self.param.broadening, fast=True)
        self.param.watch(self._on_costly, list(self.COSTLY))
        self.param.watch(self._on_cheap, list(self.VIEW))
        self._requested = None
        # served: after the URL's parameters are applied; in a notebook: at once
        pn.state.onload(self._compute)

    # ------------------------------------------------------------------ costly
    def _compute(self) -> None:
        from workbench.backends.threads import limited_threads
        from workbench.spectral.playground import run_playground

        key = self.playground_key()
        if key == self._requested:
            return  # already delivered or on its way
        self._requested = key
        kind, n, m, P, k, seed = key[1:]

        def work():
            # O(n) products and BLAS-2 reorthogonalization: extra BLAS threads only add
            # contention on a shared server
            try:
                with limited_threads(1):
                    return run_playground(kind, n, max_steps=m, num_probes=P, k=k,
                                          seed=seed)
            except Exception:
                self._requested = None  # let the same parameters be tried again
                raise

        self.run_background(key, work, while_session_lives(self._set_run), channel="run",
                            label=f"Running Lanczos on {kind} (n = {n:,}, {P} probes x "
                                  f"{m} steps)…")

    def _on_costly(self, *_events) -> None:
        self._step_slider.end = int(self.max_steps)  # (unchanged: no message)
        self.step = min(self.step, int(self.max_steps))
        self.guarded(self._compute)()

    def _set_run(self, run) -> None:
        """A new run: every figure rendered anew at the current step and broadening, once
        per run (later steps only write into their sources)."""
        self._run = run
        view = self._view = run.at(self.step, self.broadening)
        self._build_density()
        at = (run, view.step, self.broadening)  # the cached figures' key: what they show
        self._nodes.render(lambda: vs.nodes_plot(view.slq), auto_range=("x", "y"),
                           key=(*at, "nodes"))
        # x: every step up to the run's last; y: the exact eigenvalues' span (the marks
        # hold the extremes), which holds every Ritz value (a Rayleigh quotient): neither
        # range changes with the step
        self._ritz.render(lambda: vs.ritz_plot(view.ritz, run.marks, max_steps=run.steps_run,
                                               clim=vs.residual_range(run.ritz)),
                          key=(*at, "ritz"))
        self._race.render(lambda: vs.race_plot(run.race), key=(run, "race"))
        self.updated += 1
        self._show_summary(view)
        self.computed += 1

    # ------------------------------------------------------------------ cheap
    def _on_cheap(self, *events) -> None:
        names = {e.name for e in events}
        if names & {"kpm", "logy"}:
            self.guarded(self._build_density)()
        self.guarded(self._show)(steps="step" in names)

    def _show(self, steps: bool = True) -> None:
        """The stored run at the current step and broadening, written into the rendered
        figures (handler -> _show -> run.at / *_columns -> LiveFigure.write): the SLQ
        curve always, KPM, the nodes and the Ritz values when the step changed
        (``steps``); the text above them follows on the next tick. Cost: a few ms, no
        products, one message to the browser."""
        run = self._run
        if run is None or self._density.figure is None:
            return
        view = self._view = run.at(self.step, self.broadening)
        floor = vs.log_floor(run.hist_density) if self.logy else 0.0
        with hold():  # one message to the browser: one redraw
            self._density.write("SLQ", vs.density_columns(view.slq, floor))
            # KPM does not depend on the broadening: only a new step changes it
            if steps and "KPM" in self._density.sources:
                self._density.write("KPM", vs.density_columns(view.kpm, floor))
            if steps:
                self._nodes.write(vs.NODES_LABEL, vs.nodes_columns(view.slq))
                self._ritz.write(vs.RITZ_LABEL, vs.ritz_columns(view.ritz), color="residual")
        self.updated += 1
        later(lambda: self._show_summary(view))

    def _build_density(self) -> None:
        """The density figure (rebuilt by the log / KPM toggles and a new run)."""
        run, view = self._run, self._view
        if run is None:
            return
        # y follows the curves in the browser (hv's framewise ranges cost a server-side
        # re-render per step); x is the fixed density grid
        self._density.render(
            lambda: vs.density_plot(run.hist_edges, run.hist_density, view.slq,
                                    view.kpm if self.kpm else None, logy=self.logy),
            auto_range=("y",),
            starts={"y": vs.log_floor(run.hist_density) if self.logy else 0.0},
            key=(run, "density", view.step, self.broadening, self.kpm, self.logy))

    def _show_summary(self, view) -> None:
        if view is self._view:  # else a newer step has been drawn meanwhile
            self._info.object = playground_summary(self._run, view, self.kpm)

    # ------------------------------------------------------------------ export
    def export_data(self) -> pd.DataFrame | None:
        """The density curves shown (grid, SLQ, KPM) at the current step."""
        return None if self._view is None else pd.DataFrame(vs.curves_columns(self._view))

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        p = self.param
        return [self._step_slider, self._broadening_slider, control(p.spectrum), control(p.n),
                control(p.max_steps), control(p.probes), control(p.k),
                control(p.seed, widget=pn.widgets.IntInput),
                pn.Row(control(p.kpm), control(p.logy))]

    def view(self):
        return col(self._info, row(col(self._density, self._nodes), col(self._ritz, self._race)))
