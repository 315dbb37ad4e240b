"""Hessian spectra of neural networks: curvature operators, data, models, training.

    import workbench as wb
    H = wb.hessian.hessian_operator(model, torch.nn.CrossEntropyLoss(), (X, y))
    vals, vecs = wb.spectral.top_eigs(H, k=5)
    spec = wb.hessian.curvature_spectrum(H, k=10)       # top-k, min, trace, density
    run = wb.hessian.train(model, data, optimizer="gd", lr=0.4, sharpness_every=10)
    res = wb.hessian.run_experiment(wb.hessian.ExperimentConfig(), checkpoints=True)
    run = wb.hessian.run_hessian(wb.hessian.HessianSettings(steps=60))  # the dashboard's
    view = run.at(checkpoint=2, broadening=1.5)                         # free views

Operators (Hessian, GGN, Fisher) are symmetric torch LinearOperators of the engine; data
generators, small models, training with snapshots and ready-made experiments (the
bulk-and-outliers and edge-of-stability demos) make experiments reproducible offline.
See docs/hessian.md.
"""

from workbench.hessian.approximations import ApproxRun, ApproxView, MFACCurve, run_approximations
from workbench.hessian.blocks import auto_blocks, block_spectra
from workbench.hessian.data import (
    DATASETS,
    Dataset,
    as_batches,
    digits,
    gaussian_mixture,
    make_dataset,
    two_moons,
)
from workbench.hessian.dense import dense_empirical_fisher, dense_ggn, dense_hessian
from workbench.hessian.distributed import (
    DistributedCurvatureOperator,
    distributed_operator,
    shard_data,
)
from workbench.hessian.experiments import (
    PRESETS,
    ExperimentConfig,
    ExperimentResult,
    bulk_and_outliers,
    checkpoint_spectra,
    edge_of_stability,
    outlier_summary,
    run_experiment,
    sharpness_summary,
    train_experiment,
)
from workbench.hessian.kronecker import KroneckerBlock, kronecker_blocks, layer_factors
from workbench.hessian.layers import (
    LayerRun,
    LayerView,
    layer_spectra,
    minilm_layers,
    trained_layers,
)
from workbench.hessian.mfac import MFAC, SlidingMFAC, mfac_from_model
from workbench.hessian.models import cifar_like, mlp, num_parameters, resnet, small_cnn
from workbench.hessian.operators import (
    CurvatureOperator,
    FisherOperator,
    GGNOperator,
    HessianOperator,
    fisher_operator,
    ggn_operator,
    hessian_operator,
    model_mode,
)
from workbench.hessian.params import ParameterLayout, select_parameters
from workbench.hessian.plan import MemoryPlan
from workbench.hessian.run import CompareView, HessianRun, HessianView, run_hessian
from workbench.hessian.settings import ExperimentSettings, HessianSettings
from workbench.hessian.spectrum import (
    CurvatureSpectrum,
    compare_curvatures,
    count_outliers,
    curvature_spectrum,
    density_curve,
    spectra_over_training,
)
from workbench.hessian.training import Snapshot, TrainResult, train

__all__ = [
    "DistributedCurvatureOperator", "MemoryPlan", "auto_blocks", "distributed_operator",
    "shard_data", "block_spectra", "cifar_like", "resnet",
    "DATASETS", "PRESETS", "CompareView", "CurvatureOperator", "CurvatureSpectrum", "Dataset",
    "ExperimentConfig", "ExperimentResult", "ExperimentSettings", "FisherOperator",
    "GGNOperator", "HessianOperator", "HessianRun", "HessianSettings", "HessianView",
    "ParameterLayout", "Snapshot", "TrainResult", "as_batches",
    "bulk_and_outliers", "checkpoint_spectra", "compare_curvatures", "count_outliers",
    "curvature_spectrum", "dense_empirical_fisher", "dense_ggn", "dense_hessian",
    "density_curve", "digits", "edge_of_stability", "fisher_operator", "gaussian_mixture",
    "ggn_operator", "hessian_operator", "make_dataset", "mlp", "model_mode",
    "num_parameters", "outlier_summary", "run_experiment", "run_hessian", "select_parameters",
    "sharpness_summary", "small_cnn", "spectra_over_training", "train",
    "train_experiment", "two_moons",
    "KroneckerBlock", "kronecker_blocks", "layer_factors", "MFAC", "SlidingMFAC",
    "mfac_from_model", "ApproxRun", "ApproxView", "MFACCurve", "run_approximations",
    "LayerRun", "LayerView", "layer_spectra", "minilm_layers", "trained_layers",
]
