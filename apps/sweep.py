"""Sweep explorer — browse a saved parameter sweep: top Hessian eigenvalue vs width coloured by seed, and any output of your own sweeps."""

from workbench.serve.app import serve
from workbench.ui.sweep import SweepExplorer

serve(SweepExplorer)
