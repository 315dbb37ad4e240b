"""Hessian spectra of neural networks: curvature operators, data, models, training.

    import workbench as wb
    H = wb.hessian.hessian_operator(model, torch.nn.CrossEntropyLoss(), (X, y))
    vals, vecs = wb.spectral.top_eigs(H, k=5)

Operators (Hessian, GGN, Fisher) are symmetric torch LinearOperators of the engine; data
generators and small models make experiments reproducible offline.
"""

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
from workbench.hessian.models import mlp, num_parameters, small_cnn
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

__all__ = [
    "DATASETS", "CurvatureOperator", "Dataset", "FisherOperator", "GGNOperator",
    "HessianOperator", "ParameterLayout", "as_batches", "dense_empirical_fisher", "dense_ggn",
    "dense_hessian", "digits", "fisher_operator", "gaussian_mixture", "ggn_operator",
    "hessian_operator", "make_dataset", "mlp", "model_mode", "num_parameters",
    "select_parameters", "small_cnn", "two_moons",
]
