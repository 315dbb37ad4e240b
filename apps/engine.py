"""Spectral engine playground — Lanczos, SLQ and KPM on test spectra with known eigenvalues: densities vs the exact histogram, Ritz values converging step by step, top_eigs vs power iteration."""

from workbench.serve.app import serve
from workbench.ui.engine import EngineExplorer

serve(EngineExplorer)
