"""Weight eigenspectra — power-law alpha of every layer of MiniLM, a digits MLP trained live or your upload, each ESD with its fit and Marchenko–Pastur bulk, and random-matrix demos (MP, BBP, semicircle, heavy tails)."""

# The page has an upload (pn.widgets.FileInput, .safetensors/.npz/.npy, no pickles):
# tests/test_classroom_bad_input.py feeds it bad files.
from workbench.serve.app import serve
from workbench.ui.eigenspectra import EigenspectraExplorer

serve(EigenspectraExplorer)
