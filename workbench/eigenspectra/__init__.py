"""Eigenspectra of weight matrices and random-matrix baselines.

    import workbench as wb
    df = wb.eigenspectra.analyze(model)            # one row per layer, WeightWatcher columns
    df = wb.eigenspectra.analyze("model.safetensors", mp_fit=True, randomize=True)
    df = wb.eigenspectra.analyze(weights, farms=True)

    run = wb.eigenspectra.run_eigenspectra("minilm")   # layer spectra once (the dashboard's)
    view = run.fit(FitOptions(xmin_q=0.5)).at(layer=3, bins=40)   # cheap views

Modules: ``analyze`` (tables), ``run`` (the topic run: spectra once, fits and layer views),
``settings`` (the explorer's parameters), ``sources`` (MiniLM, random init, the trained
MLP, checked uploads), ``rmt_demos`` (the random-matrix demos), ``esd`` (eigenvalues, FARMS, shuffled baseline), ``powerlaw``
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
from workbench.eigenspectra.collapse_run import (
    CollapseRun,
    CollapseView,
    collapse_over_checkpoints,
    run_collapse,
)
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
from workbench.eigenspectra.rmt_demos import RMTDemos, run_rmt_demos
from workbench.eigenspectra.run import (
    EigenspectraRun,
    FitTable,
    LayerView,
    fit_spectrum,
    layer_view,
    run_eigenspectra,
)
from workbench.eigenspectra.settings import EigenspectraSettings, FitOptions, RMTSettings
from workbench.eigenspectra.sources import read_weights_upload

__all__ = [
    "analyze", "spectra", "metrics_table", "fit_layer", "skipped_table", "summary",
    "LayerFit", "LayerSpectrum", "gram_eigenvalues", "farms_eigenvalues",
    "shuffled_eigenvalues", "conv_slices", "extract_layers", "PowerLawFit", "fit_powerlaw",
    "ks_scan", "MPFit", "fit_mp", "matrix_entropy", "matrix_nuclear_norm", "load_minilm",
    "minilm_path", "random_like", "train_digits_mlp", "Checkpoint", "run_eigenspectra",
    "EigenspectraRun", "FitTable", "LayerView", "FitOptions", "fit_spectrum", "layer_view",
    "EigenspectraSettings", "RMTSettings", "RMTDemos", "run_rmt_demos",
    "read_weights_upload",
    "CollapseMetrics", "collapse_metrics", "penultimate_features",
    "CollapseRun", "CollapseView", "collapse_over_checkpoints", "run_collapse",
]
