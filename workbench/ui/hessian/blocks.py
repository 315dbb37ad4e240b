"""The Hessian explorer's "Per-layer curvature" tab: top eigenvalue and trace of each
layer's Hessian block (bars, table) and the picked block's density, for the network the
explorer trained or the pretrained MiniLM (this tab's model choice).

Nothing is computed until the tab is shown; then ``workbench.hessian.layers`` runs in
the background, keyed by the trained run's settings or the MiniLM preset (the status line
shows the operator's memory plan once done). Picking a block is cheap: ``run.at(block)``
-> ``viz.layers.*_columns`` -> ``LiveFigure.write``.
"""

from __future__ import annotations

import dataclasses

import panel as pn
import param

from workbench.hessian.layers import MINILM_PAIRS, minilm_layers, trained_layers
from workbench.ui.base import WIDE, col, control, row, text
from workbench.ui.hessian.tabs import hide_empty_roles, torch_job, write_density
from workbench.ui.live import LiveFigure
from workbench.viz import layers as vl

TITLE = "Per-layer curvature"
TRAINED = "the trained network (MLP / CNN)"
MINILM = "pretrained MiniLM (sentence pairs)"


class LayersTab(pn.viewable.Viewer):
    """Per-block top eigenvalue and trace (bars, table) and one block's density, of the
    explorer's trained network or of the MiniLM preset. ``result``: the LayerRun shown;
    ``runs``: results drawn (for tests)."""

    model = param.Selector(default=TRAINED, objects=[TRAINED, MINILM], label="Model",
                           doc="Model whose per-layer curvature is shown")
    block = param.Selector(default=None, objects=[], allow_None=True, check_on_set=False,
                           label="Block shown", doc="Block whose density is shown")
    runs = param.Integer(default=0, precedence=-1, doc="Results drawn (for tests)")

    def __init__(self, explorer):
        super().__init__()
        self._ex = explorer
        self.top = LiveFigure("wb-hessian-layers-top", min_height=260)
        self.trace = LiveFigure("wb-hessian-layers-trace", min_height=260)
        self.density = LiveFigure("wb-hessian-layers-density", min_height=320)
        self.table = pn.pane.DataFrame(None, index=False, float_format="{:.4g}".format,
                                       **WIDE)
        self.info = text("*Computed when this tab is shown.*")
        self.result = None
        #: keywords of ``minilm_layers`` for the MiniLM preset (tests take a subset)
        self.minilm_options = dict(num_pairs=MINILM_PAIRS)
        self._drawing = False    # a result being drawn: block changes wait for it
        self.shown = False       # the tab has been shown: compute from now on
        self._requested = None   # key of the per-layer run asked for last
        self.param.watch(lambda *_: self._ex.guarded(self.compute)(), ["model"])
        self.param.watch(lambda *_: self._ex.guarded(self._on_block)(), ["block"])
        # the explorer trained another network: its blocks (once this tab was shown)
        explorer.param.watch(explorer.guarded(
            lambda *_: self.model == TRAINED and self.compute()), "runs")

    def figures(self) -> list[LiveFigure]:
        return [self.top, self.trace, self.density]

    # ------------------------------------------------------------------ wiring
    def activate(self) -> None:
        """The tab is shown: compute from now on (not before: the first view stays cheap)."""
        self.shown = True
        self.compute()

    def compute(self) -> None:
        """Ask for the per-layer run of the model chosen (cached; joins a run in flight;
        the Cancel button stops it between products)."""
        if not self.shown:
            return
        if self.model == MINILM:
            opts = dict(self.minilm_options)
            key = ("layers", "minilm", repr(sorted(opts.items())))
            label = "MiniLM per-layer spectra (minutes on a CPU)…"
            work = lambda progress: minilm_layers(progress=progress, **opts)  # noqa: E731
        elif self._ex.result is None:
            self.info.object = "*Waiting for the trained network…*"
            return
        else:
            exp = self._ex.result.experiment
            key = ("layers", dataclasses.astuple(exp.config))
            label = "Per-layer spectra of the trained network…"
            work = lambda progress: trained_layers(exp, progress=progress)  # noqa: E731
        if key == self._requested:
            return
        self._requested = key
        self.info.object = f"*{label}*"
        torch_job(self._ex, key, work, lambda lrun: self._show(key, lrun), channel="layers",
                  label=label)

    # ------------------------------------------------------------------ view
    def _show(self, key, lrun) -> None:
        if key != self._requested or self._ex.detached():
            return
        self._drawing = True
        try:  # the widget follows; _on_block waits for the figures drawn below
            self.param.block.objects = dict(zip(lrun.spectra["label"], lrun.blocks(),
                                                strict=True))
            self.block = lrun.sharpest()
        finally:
            self._drawing = False
        view = lrun.at(self.block)
        self.top.render(vl.layer_bars_plot(view.table, "top_eigenvalue", self.block,
                                           lrun.name))
        self.trace.render(vl.layer_bars_plot(view.table, "trace", self.block, lrun.name))
        self.density.render(vl.layer_density_plot(view))
        hide_empty_roles(self.density, vl.layer_density_columns(view)["markers"])
        self.table.object = view.table.rename(columns=vl.TABLE_NAMES)
        self.info.object = vl.layers_text(lrun)
        self._ex.set_status(lrun.plan_text())
        self.result = lrun  # set once its figures are drawn (what waiting on it relies on)
        self.runs += 1

    def _on_block(self) -> None:
        """A block picked: its density and the highlighted bars, written in place."""
        if self._drawing or self.result is None or self.block is None:
            return  # (a result is held once its figures are drawn)
        view = self.result.at(self.block)
        for fig, metric in ((self.top, "top_eigenvalue"), (self.trace, "trace")):
            fig.write("0", vl.layer_bars_columns(view.table, metric, self.block)["source"])
        write_density(self.density, vl.layer_density_columns(view),
                      vl.layer_density_title(view))
        for fig in self.figures():
            fig.push()

    def __panel__(self):
        return col(text(vl.LAYERS_TEXT),
                   pn.Row(control(self.param.model), control(self.param.block)),
                   self.info, row(self.top, self.trace), self.density, self.table)
