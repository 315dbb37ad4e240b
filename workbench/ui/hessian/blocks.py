"""The Hessian explorer's "Per-layer curvature" tab: which layers are sharp. Top eigenvalue
and trace of the Hessian block of each layer / module as bars and a table, and the
density of the block picked, for the network the explorer trained (MLP / CNN) or the
pretrained MiniLM (a preset: the model choice of this tab).

Nothing is computed until the tab is shown (the explorer's first view stays cheap); then
``workbench.hessian.layers`` runs in the background (``Explorer.run_background``, keyed
by the trained run's settings or the MiniLM preset: cached and shared across sessions,
progress in the status line, which shows the operator's memory plan once done). Picking
a block is cheap: ``run.at(block)`` -> ``viz.layers.*_columns`` -> ``LiveFigure.write``.
"""

from __future__ import annotations

import threading

import panel as pn
import param

from workbench.backends.threads import capped
from workbench.hessian.layers import MINILM_PAIRS, minilm_layers, trained_layers
from workbench.ui.live import LiveFigure, set_changed
from workbench.viz import layers as vl

TITLE = "Per-layer curvature"
#: keywords of ``minilm_layers`` for the MiniLM preset (each explorer takes a copy)
MINILM_OPTIONS = dict(num_pairs=MINILM_PAIRS)
TRAINED = "the trained network (MLP / CNN)"
MINILM = "pretrained MiniLM (sentence pairs)"
TEXT = (
    "**Which layers are sharp.** The Hessian restricted to one layer's (or module's) "
    "parameters is a diagonal block of the full Hessian; its top eigenvalue and trace say "
    "how sharply the loss curves along that layer's weights alone. Each block costs a few "
    "dozen Hessian-vector products of the whole model. Pick a block to see its spectral "
    "density. *MiniLM*: the pretrained sentence encoder (22.7M parameters) under a "
    "paraphrase head on bundled sentence pairs, split into the attention and the MLP of "
    "each layer; this takes minutes on a CPU.")
_WIDE = dict(sizing_mode="stretch_width")


class LayersTab(pn.viewable.Viewer):
    """Per-block top eigenvalue and trace (bars, table) and one block's density, of the
    explorer's trained network or of the MiniLM preset. ``result``: the LayerRun shown;
    ``runs``: results drawn (for tests)."""

    model = param.Selector(default=TRAINED, objects=[TRAINED, MINILM],
                           doc="Model whose per-layer curvature is shown")
    block = param.Selector(default=None, objects=[], allow_None=True, check_on_set=False,
                           doc="Block whose density is shown")
    runs = param.Integer(default=0, precedence=-1, doc="Results drawn (for tests)")

    def __init__(self, explorer, queue: str = "hessian"):
        super().__init__()
        self._ex, self._queue = explorer, queue
        self.top = LiveFigure("wb-hessian-layers-top", min_height=260)
        self.trace = LiveFigure("wb-hessian-layers-trace", min_height=260)
        self.density = LiveFigure("wb-hessian-layers-density", min_height=320)
        self.table = pn.pane.DataFrame(None, index=False, float_format="{:.4g}".format,
                                       **_WIDE)
        self.info = pn.pane.Markdown("*Computed when this tab is shown.*", **_WIDE)
        self.result = None
        #: keywords of ``minilm_layers`` for the MiniLM preset (tests take a subset)
        self.minilm_options = dict(MINILM_OPTIONS)
        self._drawing = False    # a result being drawn: block changes wait for it
        self.shown = False       # the tab has been shown: compute from now on
        self._trained = None     # (key, HessianRun) of the explorer's trained network
        self._requested = None   # key of the per-layer run asked for last
        self.param.watch(lambda *_: self._ex.guarded(self.compute)(), ["model"])
        self.param.watch(lambda *_: self._ex.guarded(self._on_block)(), ["block"])
        self._layout = pn.Column(
            pn.pane.Markdown(TEXT, **_WIDE),
            pn.Row(pn.widgets.Select.from_param(self.param.model, name="Model"),
                   pn.widgets.Select.from_param(self.param.block, name="Block shown")),
            self.info, pn.Row(self.top, self.trace, **_WIDE), self.density, self.table, **_WIDE)

    def figures(self) -> list[LiveFigure]:
        return [self.top, self.trace, self.density]

    # ------------------------------------------------------------------ wiring
    def attach(self, tabs: pn.Tabs) -> None:
        """Compute when `tabs` shows this tab (not before: the first view stays cheap)."""
        def on_active(event):
            if 0 <= event.new < len(tabs.objects) and tabs.objects[event.new] is self._layout:
                self.shown = True
                self._ex.guarded(self.compute)()

        tabs.param.watch(on_active, ["active"])

    def follow(self, key, run) -> None:
        """The explorer shows `run` (its request `key`): the trained network's blocks are
        computed for it once this tab is shown."""
        if self._trained is not None and self._trained[0] == key:
            return
        self._trained = (key, run)
        if self.shown and self.model == TRAINED:
            self.compute()

    def compute(self) -> None:
        """Ask for the per-layer run of the model chosen (cached; joins a run in flight)."""
        if not self.shown:
            return
        cancel = threading.Event()  # the Cancel button stops it between products
        if self.model == MINILM:
            opts = dict(self.minilm_options)
            key = ("layers", "minilm", repr(sorted(opts.items())))
            label = "MiniLM per-layer spectra (minutes on a CPU)…"
            progress = self._ex.progress_reporter(label, cancel)
            work = lambda: minilm_layers(progress=progress, **opts)  # noqa: E731
        elif self._trained is None:
            self.info.object = "*Waiting for the trained network…*"
            return
        else:
            key, run = ("layers", self._trained[0]), self._trained[1]
            label = "Per-layer spectra of the trained network…"
            progress = self._ex.progress_reporter(label, cancel)
            work = lambda: trained_layers(run, progress=progress)  # noqa: E731
        if key == self._requested:
            return
        self._requested = key
        self.info.object = f"*{label}*"
        self._ex.run_background(key, capped(work, queue=self._queue),
                                lambda lrun: self._show(key, lrun), channel="layers",
                                label=label, cancel=cancel)

    # ------------------------------------------------------------------ view
    def _show(self, key, lrun) -> None:
        if key != self._requested or self._ex.detached():
            return
        blocks, labels = lrun.blocks(), list(lrun.spectra["label"])
        self._drawing = True
        try:  # the widget follows; _on_block waits for the figures drawn below
            self.param.block.objects = dict(zip(labels, blocks, strict=True))
            self.block = lrun.sharpest()
        finally:
            self._drawing = False
        view = lrun.at(self.block)
        self.top.render(vl.layer_bars_plot(view.table, "top_eigenvalue", self.block,
                                           lrun.name))
        self.trace.render(vl.layer_bars_plot(view.table, "trace", self.block, lrun.name))
        self.density.render(vl.layer_density_plot(view))
        self._legend(view)
        self.table.object = view.table.rename(columns={
            "num_params": "parameters", "top_eigenvalue": "top eigenvalue",
            "trace_std": "trace ± (std. error)", "num_matvecs": "HVPs"})
        self.info.object = (
            f"**{lrun.description}**: {lrun.num_params:,} parameters in {len(blocks)} "
            f"blocks; sharpest: **{labels[blocks.index(lrun.sharpest())]}**; "
            f"{lrun.num_matvecs:,} Hessian-vector products in {lrun.seconds:.1f} s · "
            f"{lrun.plan_text()}")
        self._ex.set_status(lrun.plan_text())
        self.result = lrun  # set once its figures are drawn (what waiting on it relies on)
        self.runs += 1

    def _on_block(self) -> None:
        """A block picked: its density and the highlighted bars, written in place."""
        if self._drawing or self.result is None or self.block is None \
                or self.density.figure is None:
            return
        view = self.result.at(self.block)
        for fig, metric in ((self.top, "top_eigenvalue"), (self.trace, "trace")):
            fig.write("0", vl.layer_bars_columns(view.table, metric, self.block)["source"])
        cols = vl.layer_density_columns(view)
        self.density.write("0", cols["area"])
        for role, data in cols["markers"].items():
            self.density.write(role, data)
        self.density.set_range("x", *cols["xlim"])
        self.density.set_range("y", *cols["ylim"])
        self.density.set_title(vl.layer_density_title(view))
        self._legend(view)
        for fig in self.figures():
            fig.push()

    def _legend(self, view) -> None:
        """Hide the density's legend entries of marker roles without data."""
        items = self.density.legend_items()
        for role, data in vl.layer_density_columns(view)["markers"].items():
            if role in items:
                set_changed(items[role], visible=len(data["x0"]) > 0)

    def __panel__(self):
        return self._layout
