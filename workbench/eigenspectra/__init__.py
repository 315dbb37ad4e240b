"""Eigenspectra of weight matrices and random-matrix baselines.

    import workbench as wb
    df = wb.eigenspectra.analyze(model)            # one row per layer, WeightWatcher columns
    df = wb.eigenspectra.analyze("model.safetensors", mp_fit=True, randomize=True)
    df = wb.eigenspectra.analyze(weights, farms=True)

Modules: ``analyze`` (tables), ``esd`` (eigenvalues, FARMS, shuffled baseline), ``powerlaw``
(KS-xmin MLE fits), ``rmt`` (MP / Wigner / BBP / heavy tails), ``layers`` (model -> matrices),
``activations`` (matrix entropy, nuclear norm of representations), ``models`` (MiniLM,
random init, a digits MLP trained at checkpoints).
"""

from workbench.eigenspectra.activations import matrix_entropy, matrix_nuclear_norm
from workbench.eigenspectra.analyze import (
    LayerFit,
    analyze,
    fit_layer,
    metrics_table,
    skipped_table,
    spectra,
    summary,
)
from workbench.eigenspectra.collapse import CollapseMetrics, collapse_metrics, penultimate_features
from workbench.eigenspectra.esd import (
    LayerSpectrum,
    farms_eigenvalues,
    gram_eigenvalues,
    shuffled_eigenvalues,
)
from workbench.eigenspectra.layers import conv_slices, extract_layers
from workbench.eigenspectra.models import (
    Checkpoint,
    load_minilm,
    minilm_path,
    random_like,
    train_digits_mlp,
)
from workbench.eigenspectra.powerlaw import PowerLawFit, fit_powerlaw, ks_scan
from workbench.eigenspectra.rmt import MPFit, fit_mp

__all__ = [
    "analyze", "spectra", "metrics_table", "fit_layer", "skipped_table", "summary",
    "LayerFit", "LayerSpectrum", "gram_eigenvalues", "farms_eigenvalues",
    "shuffled_eigenvalues", "conv_slices", "extract_layers", "PowerLawFit", "fit_powerlaw",
    "ks_scan", "MPFit", "fit_mp", "matrix_entropy", "matrix_nuclear_norm", "load_minilm",
    "minilm_path", "random_like", "train_digits_mlp", "Checkpoint",
    "CollapseMetrics", "collapse_metrics", "penultimate_features",
]
