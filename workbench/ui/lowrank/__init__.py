"""The low-rank explorer: a thin explorer (``explorer``) composing one Viewer per tab
(``approximation``, ``curves``, ``completion``). What it shows is computed by the topic
run, :mod:`workbench.lowrank.run`."""

from workbench.ui.lowrank.explorer import LowRankExplorer

__all__ = ["LowRankExplorer"]
