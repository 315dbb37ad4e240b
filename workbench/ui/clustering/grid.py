"""The *Comparison grid* tab: scikit-learn's "comparing clustering algorithms" page,
datasets x algorithms, computed live in the background one row (dataset) at a time, each
row a keyed request (cached and shared across sessions by dataset, noise and seed) and
drawn as soon as it is done."""

from __future__ import annotations

import panel as pn

from workbench.clustering.compare import ALGORITHMS, GRID_DATASETS, GRID_SAMPLES, grid_row
from workbench.clustering.settings import ClusteringSettings
from workbench.ui.base import col, text
from workbench.ui.live import LiveFigure
from workbench.viz.clustering import comparison_grid
from workbench.viz.text import grid_text


class GridTab(pn.viewable.Viewer):
    """The comparison grid for the settings' noise and seed."""

    def __init__(self, explorer, settings: ClusteringSettings):
        super().__init__()
        self.explorer, self.settings = explorer, settings
        self.figure = LiveFigure("wb-cl-grid", min_height=300)
        self.info = text()
        self.cells: dict = {}
        self._key = None

    def __panel__(self):
        return col(self.info, self.figure)

    def request(self) -> None:
        """Compute the grid of the current noise and seed (nothing when drawn already)."""
        noise, seed = round(float(self.settings.noise), 3), int(self.settings.seed)
        key = ("grid", noise, seed)
        if key == self._key:
            return
        self._key, self.cells = key, {}
        self._draw()   # the empty grid at once, filled row by row
        self._next(key, list(GRID_DATASETS))

    def stop(self) -> None:
        """Stop an unfinished grid (the shared workers are few): it restarts when asked."""
        if len(self.cells) < len(GRID_DATASETS) * len(ALGORITHMS):
            self._key = None

    def _next(self, key, todo: list) -> None:
        if key != self._key or not todo:
            return
        name, rest = todo[0], todo[1:]
        noise, seed = key[1:]

        def done(row):
            if key != self._key:
                return
            self.cells.update({(c["dataset"], c["algorithm"]): c for c in row})
            self._draw()
            self._next(key, rest)

        self.explorer.run_background(("grid-row", name, GRID_SAMPLES, noise, seed),
                                     lambda: grid_row(name, GRID_SAMPLES, noise, seed),
                                     done,
                                     channel="grid",
                                     label="Computing the comparison grid…")

    def _draw(self) -> None:
        if self.explorer.detached():
            return
        self.figure.render(comparison_grid(list(self.cells.values()), list(GRID_DATASETS),
                                           list(ALGORITHMS)))
        self.info.object = grid_text(len(self.cells), self.settings)
