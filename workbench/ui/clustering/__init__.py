"""The clustering explorer (``ClusteringExplorer``), a thin explorer of four tab Viewers
over ``workbench.clustering.run``; see ``explorer``."""

from workbench.ui.clustering.explorer import ClusteringExplorer
from workbench.ui.clustering.figures import LabelledPlot

__all__ = ["ClusteringExplorer", "LabelledPlot"]
