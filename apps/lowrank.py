"""Low-rank approximation — see what SVD, randomized SVD, CUR and Nyström keep at each rank of a photo, a MiniLM weight matrix, a kernel or your own matrix, and when matrix completion works."""

# The page has an upload (pn.widgets.FileInput, .npy/.npz, no pickles):
# tests/test_classroom_bad_input.py feeds it bad files.
from workbench.serve.app import serve
from workbench.ui.lowrank import LowRankExplorer

serve(LowRankExplorer)
