"""The "Approximation" tab: the matrix next to its rank-k reconstruction, the numbers
and the singular value decay. Figures are rendered once per matrix (``show_source``) and
per rank path (``show_path``); a rank step (``show``) writes into them in place.
"""

from __future__ import annotations

import numpy as np
import panel as pn

from workbench.lowrank.settings import METHOD_LABELS
from workbench.ui.base import col, row, text
from workbench.ui.live import LiveFigure, hold
from workbench.viz import lowrank as vl
from workbench.viz.text import approximation_text


class ApproximationTab(pn.viewable.Viewer):
    """Original, reconstruction, numbers and singular values of a LowRankRun."""

    def __init__(self):
        super().__init__()
        self.original = LiveFigure(css_class="wb-lowrank-original", min_height=340)
        self.recon = LiveFigure(css_class="wb-lowrank-recon", min_height=340)
        self.sv = LiveFigure(css_class="wb-lowrank-sv", min_height=300)
        self.stats = text(css="wb-lowrank-stats")

    def show_source(self, run, rank: int) -> None:
        """Render the matrix, a placeholder reconstruction sharing its zoom, and the
        singular values (with the path's estimates when the run has its path)."""
        src = run.source
        m, n = src.shape
        self.original.render(lambda: vl.matrix_image(src.A, f"original ({m} x {n})",
                                                     kind=src.kind, clim=src.clim),
                             key=(src, "original"))
        self.recon.render(lambda: vl.matrix_image(np.zeros(src.shape),
                                                  "reconstruction: computing…", kind=src.kind,
                                                  clim=src.clim, colorbar=True),
                          key=(src, "reconstruction"))
        self.recon.figure.x_range = self.original.figure.x_range
        self.recon.figure.y_range = self.original.figure.y_range
        self.show_path(run, rank)

    def show_path(self, run, rank: int) -> None:
        """Render the singular value decay (with the method's estimates, if any)."""
        self.sv.render(lambda: vl.run_sv_plot(run, rank),
                       key=(run.source, run.path, int(rank), "singular values"))

    def show(self, view, notice: str = "") -> None:
        """A rank step: write the view into the rendered figures (no re-render)."""
        with hold():
            if self.sv.figure is not None:
                self.sv.write("kept", vl.singular_value_columns(view))
                self.sv.move_spans(view.rank + 0.5)
            if view.approx is not None and self.recon.figure is not None:
                self.recon.write(self.recon.names[0], vl.matrix_image_columns(view.approx))
                self.recon.set_title(f"{METHOD_LABELS[view.method]}, rank {view.rank}")
            self.stats.object = approximation_text(view, notice)

    def __panel__(self):
        return col(row(self.original, self.recon),
                   row(pn.Column(self.stats, width=430), self.sv))
