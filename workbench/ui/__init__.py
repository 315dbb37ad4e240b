"""Interactive explorers (Panel + param), one per topic, and the shared page machinery.

Importing this package imports Panel; the compute layers never do.
"""

from workbench.jobs import CACHE, ResultCache
from workbench.ui.base import Explorer
from workbench.ui.notebook import extension

__all__ = ["CACHE", "Explorer", "ResultCache", "extension"]
