"""The Hessian explorer (``HessianExplorer``): a thin explorer (explorer.py) composing one
Viewer per tab (tabs.py) and the settings' widgets (controls.py); ``HessianExplorer.from_model``
opens ``ModelHessianExplorer`` (model.py) on a user's own model."""

from workbench.ui.hessian.explorer import DEMOS, HessianExplorer
from workbench.ui.hessian.model import ModelHessianExplorer

__all__ = ["DEMOS", "HessianExplorer", "ModelHessianExplorer"]
