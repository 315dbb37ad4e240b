"""The low-rank explorer (``explorer``), one Viewer per tab in the other modules; what it
shows is computed by the topic run, :mod:`workbench.lowrank.run`."""

from workbench.ui.lowrank.explorer import LowRankExplorer

__all__ = ["LowRankExplorer"]
