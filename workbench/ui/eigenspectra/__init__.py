"""The eigenspectra explorer: a thin explorer (``explorer``) composing one Viewer per tab
(``layers``, ``training``, ``random_matrices``, ``table``, ``collapse``). The computation
is ``workbench.eigenspectra.run``."""

from workbench.ui.eigenspectra.explorer import EigenspectraExplorer

__all__ = ["EigenspectraExplorer"]
