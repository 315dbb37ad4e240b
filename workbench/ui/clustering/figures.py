"""The cluster scatter of the clustering explorer: drawn once per data / embedding, then
recoloured in place by new labels.

Up to ``viz.clustering.RASTERIZE_ABOVE`` points it is a ``LiveFigure`` (a Bokeh scatter)
whose label columns are patched (``patch``: only the two label columns go to the browser,
a few ms, nothing re-laid out); above, the datashaded DynamicMap re-aggregates from a Pipe
of labels (one O(n) aggregation, same figure).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
import panel as pn

from workbench.ui.live import LiveFigure
from workbench.viz.clustering import RASTERIZE_ABOVE, label_columns, rasterized


class LabelledPlot(pn.viewable.Viewer):
    """A cluster scatter drawn once per ``key`` whose labels change in place (see the
    module docstring). ``make(labels, stream)`` returns the element (``viz.clustering``
    cluster_scatter / embedding_plot) and must rasterize above the same
    ``rasterize_above``."""

    def __init__(self, min_height: int, rasterize_above: int = RASTERIZE_ABOVE,
                 css_class: str | None = None):
        self.rasterize_above = rasterize_above
        self.live = LiveFigure(css_class, min_height=min_height)
        # linked_axes=False: the points and the embedding both name their axes x and y
        self.holo = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                      min_height=min_height, linked_axes=False)
        self.holder = pn.Column(self.live.pane, sizing_mode="stretch_width", margin=0)
        self.key: Hashable | None = None  # None: drawn anew at the next ``show``
        self._pipe = None       # the datashaded view's stream of labels
        self._source = None     # the scatter's source name in ``live``
        super().__init__()

    def __panel__(self):
        return self.holder

    @property
    def figure(self):
        """The drawn Bokeh figure (None when datashaded or not drawn)."""
        return self.live.figure if self.holder.objects[0] is self.live.pane else None

    def write(self, labels: np.ndarray) -> None:
        """Recolour the drawn plot with `labels` (as long as the drawn points): the label
        columns patched into the scatter's source, or sent down the datashader's Pipe
        (one O(n) aggregation)."""
        if self._pipe is not None:
            self._pipe.send(labels)
        else:
            self.live.patch(self._source, label_columns(labels))

    def show(self, key, n: int, make: Callable, labels: np.ndarray) -> None:
        """Recolour the drawn plot with `labels` (``write``), or draw ``make(labels,
        stream)`` when `key` differs from the drawn one. Cost: O(n) to recolour; a
        HoloViews render when drawn anew."""
        if key == self.key:
            self.write(labels)
            return
        import holoviews as hv

        if rasterized(n, self.rasterize_above):
            self._pipe = hv.streams.Pipe(data=labels)
            self.holo.object = make(labels, self._pipe)
            pane = self.holo
        else:
            self._pipe = None
            # (the css class tells the points from the embedding: both show these labels)
            self.live.render(lambda: make(labels, None),
                             key=("labelled", tuple(self.live.pane.css_classes), key, labels))
            self._source, pane = self.live.names[0], self.live.pane
        if self.holder.objects[0] is not pane:
            self.holder.objects = [pane]
        self.key = key
