"""Low-rank explorer: take a matrix — a photo, a MiniLM weight matrix, an RBF kernel, a
synthetic matrix with a chosen spectrum, or your own .npy/.npz — and see what each method
keeps and loses at each rank.

The explorer is its settings (``LowRankSettings``, ``CompletionSettings``: declared in
the topic) wired to the topic run (:mod:`workbench.lowrank.run`) by keyed background
requests (the source, one rank path per method, the error curves, the completion, the
phase diagram), cached across sessions. A rank step is ``run.at(rank)`` written into the
tabs' figures.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.errors import InputFormatError, WorkbenchError
from workbench.lowrank.run import LowRankRun, error_curves, load_source, source_key, try_rank_path
from workbench.lowrank.settings import (
    METHOD_LABELS,
    UPLOAD_MAX_SIDE,
    CompletionSettings,
    LowRankSettings,
)
from workbench.lowrank.sources import array_matrix, uploaded_matrix
from workbench.ui.base import Explorer, col, control, upload_box
from workbench.ui.lowrank.approximation import ApproximationTab
from workbench.ui.lowrank.completion import CompletionTab
from workbench.ui.lowrank.curves import CurvesTab
from workbench.ui.lowrank.stream import StreamTab
from workbench.ui.lowrank.updates import UpdatesTab


class LowRankExplorer(Explorer, LowRankSettings, CompletionSettings):
    """Compare low-rank approximations of a matrix against the Eckart–Young optimum."""

    title = "Low-rank approximation"
    description = ("Approximate a photo, a MiniLM weight matrix, a kernel or your own matrix "
                   "with SVD, randomized SVD, CUR, Nyström...: what each keeps at each "
                   "rank, against the optimum; and when matrix completion is possible.")
    url_params = (*LowRankSettings.fields(), *CompletionSettings.fields())

    def __init__(self, _upload=None, _start: bool = True, **params):
        super().__init__(**params)
        self.run: LowRankRun | None = None      # what is shown (grows: path, curves)
        self._drawn = None                      # source key the figures show
        self._upload = _upload                  # the UploadedMatrix, if any
        self._notice = ""                       # why the source or method was switched
        self._good_method = self.method
        self.approximation = ApproximationTab()
        self.curves = CurvesTab()
        self.completion = CompletionTab(self)
        self.updates = UpdatesTab(self)         # computes when first shown
        self.stream = StreamTab(self)           # computes while shown
        self._upload_line, self._upload_widget = upload_box(
            ".npy,.npz", f"a matrix (.npy / .npz, 2-D, at most {UPLOAD_MAX_SIDE} x "
            f"{UPLOAD_MAX_SIDE}; never pickles)", self.guarded(self._on_upload))
        p = self.param
        self._source_widgets = {
            "image": control(p.image), "minilm": control(p.layer),
            "synthetic": col(control(p.decay, widget=pn.widgets.RadioButtonGroup),
                             control(p.noise), margin=0)}
        self._on_source()  # (no change: only the source's own widgets shown)
        self.param.watch(self._on_source, ["source", "image", "layer", "decay", "noise"])
        self.param.watch(self.guarded(self._on_method), ["method"])
        self.param.watch(self.guarded(self._on_rank), ["rank"])
        if _start:
            self.guarded(self._load_source)()
            self.completion.request()
            self.completion.phase.request()

    @classmethod
    def from_matrix(cls, A, name: str = "your matrix", **params) -> LowRankExplorer:
        """The explorer opened on your own matrix `A` (numpy / torch / anything
        ``np.asarray`` takes; 2-D, real, finite, 2 to UPLOAD_MAX_SIDE per side). A matrix
        it cannot take (NaN / inf, not 2-D, not numbers) opens the explorer with the
        problem named in its alert and nothing computed (``explorer.message``)."""
        try:
            upload = array_matrix(A, name)
        except WorkbenchError as exc:
            explorer = cls(_start=False, **params)
            explorer.show_error(str(exc))
            return explorer
        return cls(_upload=upload, **{**params, "source": "uploaded"})

    # ------------------------------------------------------------------ the matrix
    def _on_source(self, *events) -> None:
        if self.source_changed(e.name for e in events):
            self._notice = ""
            self.guarded(self._load_source)()
        for source, widget in self._source_widgets.items():
            widget.visible = self.source == source

    def _load_source(self) -> None:
        try:
            key = source_key(self, self._upload)
        except InputFormatError as exc:
            problem = f"{exc} (showing the photo)"
            self.source = "image"          # loads the photo
            self._notice = problem         # stays on the page (the alert may be cleared)
            raise InputFormatError(problem) from None
        upload = self._upload if key[0] == "uploaded" else None
        self.run_background(("source", key), lambda: load_source(key, upload),
                            self._set_source, channel="source",
                            label="Loading the matrix and its exact singular values…")

    def _on_upload(self, event) -> None:
        if not event.new:
            return
        self._upload = uploaded_matrix(event.new, self._upload_widget.filename)
        if self.source == "uploaded":
            self._load_source()
        else:
            self.source = "uploaded"

    def _set_source(self, source) -> None:
        self.run, self._drawn = LowRankRun(source), None
        self.param.rank.bounds = (1, source.max_rank)
        if self.rank > source.max_rank:
            self.rank = source.max_rank
        # the background work first (a cached result lands at once), then draw
        self._request_path()
        src = self.run.source
        self.run_background(("curves", src.key), lambda: error_curves(src), self._set_curves,
                            channel="curves", label="Error vs rank for every method…")
        self._drawn = source.key
        self.approximation.show_source(self.run, self.rank)
        self.curves.show_curves(self.run, self.rank)
        self._on_rank()
        self.stream.request()
        if self.completion_matrix == "current":
            self.completion.request()

    # ------------------------------------------------------------------ the method
    def _on_method(self, *_events) -> None:
        self._notice = ""
        self._request_path()

    def _request_path(self) -> None:
        if self.run is None:
            return
        source, method = self.run.source, self.method
        known = self.run.known_path(method)
        if known is not None:
            self._set_path((known, source.key, method))
            return
        self.run_background(("path", source.key, method),
                            lambda: (try_rank_path(source, method), source.key, method),
                            self._set_path, channel="path",
                            label=f"Computing the {METHOD_LABELS[method]} (once, at rank "
                                  f"{source.max_rank})…")

    def _set_path(self, result) -> None:
        path, key, method = result
        if self.run is None or key != self.run.source.key:
            return
        if isinstance(path, Exception):
            if self.method == method:
                fallback = self._good_method if self._good_method != method else "svd"
                self.method = fallback                   # back to something that works
                self._notice = (f"{METHOD_LABELS[method]} does not apply here ({path}); "
                                f"showing the {METHOD_LABELS[fallback]}.")
                self._on_rank()
            raise path
        if method != self.method:
            return
        self.run = self.run.with_path(path)
        self._good_method = method
        if self._drawn == key:
            self.approximation.show_path(self.run, self.rank)
            self._on_rank()

    def _set_curves(self, curves) -> None:
        if self.run is None or curves.key != self.run.source.key:
            return
        self.run = self.run.with_curves(curves)
        if self._drawn == curves.key:
            self.curves.show_curves(self.run, self.rank)
            self._on_rank()

    # ------------------------------------------------------------------ the rank (cheap)
    def _on_rank(self, *_events) -> None:
        """Everything that depends on the rank only: the run's view written into the
        rendered figures (no figure is rebuilt)."""
        if self.run is None or self._drawn != self.run.source.key:
            return
        view = self.run.at(self.rank)
        self.approximation.show(view, self._notice)
        self.curves.show(view)

    # ------------------------------------------------------------------ layout
    def controls(self) -> list:
        p = self.param
        return [control(p.rank, fast=True), control(p.source), *self._source_widgets.values(),
                control(p.method), self._upload_line, self._upload_widget]

    def view(self):
        tabs = pn.Tabs(("Approximation", self.approximation), ("Error vs rank", self.curves),
                       ("Completion", self.completion),
                       ("Fine-tuning updates", self.updates),
                       ("Streaming rows", self.stream), sizing_mode="stretch_width",
                       dynamic=True)
        tabs.param.watch(self.guarded(self._on_tab), "active")
        return tabs

    def _on_tab(self, event) -> None:
        if event.new == 2:
            self.completion.activate()
        if event.new == 3:
            self.updates.activate()
        self.stream.shown = event.new == 4
        self.stream.request()

    def export_data(self) -> pd.DataFrame | None:
        """The error-vs-rank table of every method (or the singular values before it is
        ready)."""
        return None if self.run is None else self.run.export()
