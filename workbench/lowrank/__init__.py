"""Low-rank approximation: the SVD family, CUR / interpolative / Nyström, Fisher-weighted
SVD, sketches (least squares, matrix products), matrix completion, streaming top
eigenvectors and rank selection.

Every approximation returns a frozen :class:`LowRankResult` with the factors, the rank,
the parameters, the time and — where the matrix is available — the error against the
Eckart–Young optimum::

    import workbench as wb
    U, s, Vt = wb.lowrank.randomized_svd(A, 50)
    res = wb.lowrank.randomized_svd(A, 50, method="krylov")
    res.error.fro_ratio          # ||A - A_k||_F / ||A - [A]_k||_F  (1 is optimal)
    exact = wb.lowrank.exact_svd(A, 50, tol=1e-8)
"""

from workbench.lowrank._checks import NotPSDError
from workbench.lowrank.completion import (
    CompletionProblem,
    CompletionResult,
    PhaseTransition,
    alternating_minimization,
    completion_problem,
    phase_transition,
    soft_impute,
)
from workbench.lowrank.cur import cur, interpolative, leverage_scores, select_columns
from workbench.lowrank.incremental import IncrementalSVD
from workbench.lowrank.methods import METHODS, approximate, error_curve
from workbench.lowrank.nystrom import nystrom
from workbench.lowrank.paths import PATH_METHODS, RankPath, rank_path
from workbench.lowrank.rank_selection import (
    elbow_rank,
    energy_rank,
    gavish_donoho_rank,
    gavish_donoho_threshold,
    marchenko_pastur_median,
    select_rank,
)
from workbench.lowrank.results import (
    ApproxError,
    LowRankResult,
    approximation_error,
    error_ratio,
    exact_singular_values,
    optimum,
    relative_fro_error,
)
from workbench.lowrank.run import (
    CompletionRun,
    ErrorCurves,
    LowRankRun,
    LowRankView,
    MatrixSource,
    error_curves,
    load_source,
    phase_diagram,
    rank_path_for,
    run_completion,
    run_lowrank,
)
from workbench.lowrank.settings import CompletionSettings, LowRankSettings
from workbench.lowrank.sketch import (
    SKETCHES,
    LstsqResult,
    MatmulResult,
    approx_matmul,
    fwht,
    sketch,
    sketched_lstsq,
)
from workbench.lowrank.sources import (
    Synthetic,
    UploadedMatrix,
    minilm_matrix,
    minilm_matrix_names,
    rbf_kernel_matrix,
    sample_image,
    spectrum,
    synthetic,
    synthetic_fast,
    uploaded_matrix,
)
from workbench.lowrank.stream_run import StreamRun, StreamStep, run_stream
from workbench.lowrank.streaming import StreamResult, block_power, oja
from workbench.lowrank.svd import (
    block_krylov_svd,
    exact_svd,
    gram_svd,
    randomized_svd,
    truncated_svd,
)
from workbench.lowrank.transformers import CURSelector, LowRankSVD, MatrixCompleter
from workbench.lowrank.update_run import (
    UpdateRun,
    UpdateSettings,
    UpdateView,
    run_updates,
    updates_from,
    updates_from_upload,
)
from workbench.lowrank.updates import UpdateSpectrum, lora_deltas, update_spectra, weight_updates
from workbench.lowrank.weighted import fisher_row_weights, fisher_weighted_svd, weighted_error

__all__ = [
    "METHODS", "PATH_METHODS", "SKETCHES", "RankPath", "ApproxError", "CURSelector", "CompletionProblem",
    "CompletionResult", "LowRankResult", "LowRankSVD", "LstsqResult", "MatmulResult",
    "MatrixCompleter", "NotPSDError", "PhaseTransition", "StreamResult", "Synthetic",
    "alternating_minimization", "approx_matmul", "approximate", "approximation_error",
    "block_krylov_svd", "block_power", "completion_problem", "cur", "elbow_rank",
    "energy_rank", "error_curve", "exact_singular_values", "exact_svd", "fisher_row_weights",
    "fisher_weighted_svd", "fwht", "gavish_donoho_rank", "gavish_donoho_threshold",
    "gram_svd", "interpolative", "leverage_scores", "marchenko_pastur_median",
    "minilm_matrix", "minilm_matrix_names", "nystrom", "oja", "optimum", "phase_transition",
    "randomized_svd", "rank_path", "rbf_kernel_matrix", "sample_image", "select_columns", "select_rank",
    "sketch", "sketched_lstsq", "soft_impute", "spectrum", "synthetic", "synthetic_fast",
    "truncated_svd",
    "weighted_error",
    # the topic run (dashboard, notebook): settings once, costly part once, cheap views
    "CompletionRun", "CompletionSettings", "ErrorCurves", "LowRankRun", "LowRankSettings",
    "LowRankView", "MatrixSource", "UploadedMatrix", "error_curves", "error_ratio",
    "load_source", "phase_diagram", "rank_path_for", "relative_fro_error", "run_completion",
    "run_lowrank", "uploaded_matrix",
    "IncrementalSVD", "StreamRun", "StreamStep", "run_stream", "UpdateSpectrum", "lora_deltas", "update_spectra", "weight_updates",
    "UpdateRun", "UpdateSettings", "UpdateView", "run_updates", "updates_from",
    "updates_from_upload",
]
