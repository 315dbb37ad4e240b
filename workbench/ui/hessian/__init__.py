"""The Hessian explorer (``HessianExplorer``): a thin explorer (explorer.py) composing one
Viewer per tab (tabs.py) and the settings' widgets (controls.py)."""

from workbench.ui.hessian.explorer import DEMOS, HessianExplorer

__all__ = ["DEMOS", "HessianExplorer"]
