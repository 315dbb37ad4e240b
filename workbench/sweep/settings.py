"""Settings of browsing a saved sweep, declared once: the folder and experiment, and the
view ``SweepBrowse.at`` gives (x, y and its entry, colour, facet, kind; log axes). The sweep
explorer (``workbench.ui.sweep``) builds its widgets and URL state from these parameters::

    s = BrowseSettings(x="width", y="top_k[entry]", entry=1, color="seed")
    browse_sweep("runs/widths").at(s.experiment, **s.wanted(), entry=s.entry, kind=s.kind)
"""

from __future__ import annotations

import param

from workbench.sweep.tables import PlotChoices

NONE = "(none)"  #: the colour / facet choice that colours / splits nothing


class BrowseSettings(param.Parameterized):
    """Which sweep, which experiment of it, and how to plot it. The column choices start
    empty: ``offer`` fills them with what a loaded table offers."""

    folder = param.String(default="", label="Sweep folder",
                          doc="Sweep folder (empty: the example); on a served page a name "
                              "under the server's sweeps root")
    experiment = param.Selector(default="", objects=[""], check_on_set=False,
                                label="Experiment", doc="Experiment (a folder may hold several)")
    x = param.Selector(default="", objects=[""], check_on_set=False, label="x", doc="x axis")
    y = param.Selector(default="", objects=[""], check_on_set=False, label="y (output)",
                       doc="y axis")
    entry = param.Integer(default=0, bounds=(0, 9), label="Entry of an array output",
                          doc="Entry of an array output (0 = first, e.g. the largest)")
    color = param.Selector(default=NONE, objects=[NONE], check_on_set=False,
                           label="Colour by", doc="Colour by")
    facet = param.Selector(default=NONE, objects=[NONE], check_on_set=False,
                           label="Facet by", doc="One panel per value of")
    kind = param.Selector(default="points", objects=["points", "lines", "mean"], label="Show",
                          doc="points, points joined by colour, or mean +- sd")
    logx = param.Boolean(default=False, label="log x", doc="log x")
    logy = param.Boolean(default=False, label="log y", doc="log y")

    VIEW = ("x", "y", "entry", "color", "facet", "kind", "logx", "logy")

    def wanted(self) -> dict:
        """x, y, color and facet as ``SweepBrowse.choices`` and ``at`` take them (None for
        NONE)."""
        return {"x": self.x, "y": self.y, "color": None if self.color == NONE else self.color,
                "facet": None if self.facet == NONE else self.facet}

    def offer(self, c: PlotChoices) -> None:
        """Offer what a table offers (`c`'s x and y columns, colour and facet groups, the
        entry's range) and take `c`'s values, in one batch of watcher calls."""
        # the options change after the values are chosen: a Select widget whose value
        # leaves its options picks the first option at once (y = top_eig instead of the
        # array output, when the table arrived after the page was built); copies: a value
        # set outside its objects joins them
        self.param.x.objects, self.param.y.objects = list(c.xs), list(c.ys)
        self.param.color.objects = [NONE, *c.groups]
        self.param.facet.objects = [NONE, *c.groups]
        self.param.entry.bounds = (0, max(1, c.entries - 1))
        with param.parameterized.batch_call_watchers(self):
            self.param.update(x=c.x, y=c.y, color=c.color or NONE, facet=c.facet or NONE,
                              entry=min(self.entry, self.param.entry.bounds[1]))
