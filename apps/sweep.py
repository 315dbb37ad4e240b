"""Sweep explorer — browse a saved parameter sweep: top Hessian eigenvalue vs width coloured by seed, and any output of your own sweeps."""

# The "Sweep folder" box and ?folder= take only names of sweep folders under the server's
# sweeps root (`workbench serve --sweeps DIR`, default ./runs): see workbench/paths.py.
from workbench.paths import sweeps_root
from workbench.serve.app import serve
from workbench.ui.sweep import SweepExplorer

serve(SweepExplorer, root=sweeps_root())
