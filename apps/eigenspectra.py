"""Weight eigenspectra — power-law alpha of every layer of MiniLM, a digits MLP trained live or your upload, each ESD with its fit and Marchenko–Pastur bulk, and random-matrix demos (MP, BBP, semicircle, heavy tails)."""

from workbench.ui.app import serve
from workbench.ui.eigenspectra import EigenspectraExplorer

serve(EigenspectraExplorer)
