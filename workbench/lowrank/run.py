"""The low-rank topic run: a matrix, its exact singular values and a rank path per method,
computed once; ``run.at(rank=...)`` answers any rank in milliseconds with plain data (the
reconstruction, its error next to the Eckart–Young optimum, the error table's row). What
the low-rank dashboard, the notebook and tests share::

    settings = LowRankSettings(source="synthetic", decay="fast", method="cur_qr")
    run = run_lowrank(settings)        # source + singular values, the method's rank path,
                                       # and (curves=True) every method's error curve
    view = run.at(rank=12)             # view.approx, view.fro, view.fro_opt, view.table

A dashboard builds the same run in stages (each a cacheable background request keyed by
:func:`source_key`): ``load_source`` -> ``LowRankRun(source)``, then ``run.with_path(
rank_path_for(source, method))`` and ``run.with_curves(error_curves(source))``.

Matrix completion has its run too: ``run_completion(settings, source)`` and
``phase_diagram(true_rank, method)``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from workbench.errors import InputFormatError, ShapeError, WorkbenchError
from workbench.lowrank.paths import RankPath, rank_path
from workbench.lowrank.results import (
    error_ratio,
    exact_singular_values,
    optimum,
    relative_fro_error,
)
from workbench.lowrank.settings import (
    COMPLETION_MAX_ITERS,
    COMPLETION_MAX_SIDE,
    COMPLETION_SIZE,
    KERNEL_SIZE,
    MAX_RANK,
    METHOD_LABELS,
    PHASE_FRACTIONS,
    PHASE_MAX_ITERS,
    PHASE_SEEDS,
    SOURCES,
    SYNTHETIC_RANK,
    SYNTHETIC_SHAPE,
    CompletionSettings,
    LowRankSettings,
    short_layer,
)
from workbench.lowrank.sources import UploadedMatrix

CURVE_RANKS = 14    # ranks (geometrically spaced up to the largest) of the error curves


# ---------------------------------------------------------------------- the matrix
@dataclass(frozen=True)
class MatrixSource:
    """The matrix to approximate: A (float64), all its singular values sv (decreasing),
    kind ("image": a photo in [0, 1], else "matrix"), a label for people, and key (what
    identifies it: built from the settings, or the uploaded content's digest)."""

    key: tuple
    A: np.ndarray
    sv: np.ndarray
    kind: str
    label: str
    seconds: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.A.shape)

    @property
    def max_rank(self) -> int:
        """The largest rank offered: min(MAX_RANK, m, n)."""
        return int(min(MAX_RANK, *self.A.shape))

    @property
    def clim(self) -> tuple[float, float]:
        """Colour range: (0, 1) for a photo, symmetric around 0 for a matrix."""
        if self.kind == "image":
            return (0.0, 1.0)
        c = float(np.abs(self.A).max()) or 1.0
        return (-c, c)


def source_key(settings: LowRankSettings, upload: UploadedMatrix | None = None) -> tuple:
    """What identifies the matrix `settings` choose (the cache key of everything computed
    from it). Raises InputFormatError for an unknown source or "uploaded" without an
    upload."""
    s = settings.source
    if s not in SOURCES.values():
        raise InputFormatError(f"unknown source {s!r}")
    if s == "image":
        return ("image", settings.image)
    if s == "minilm":
        return ("minilm", settings.layer)
    if s == "kernel":
        return ("kernel", KERNEL_SIZE)
    if s == "synthetic":
        return ("synthetic", settings.decay, round(float(settings.noise), 6))
    if upload is None:
        raise InputFormatError("no matrix uploaded yet: choose a .npy or .npz file below")
    return ("uploaded", upload.digest)


def load_source(settings: LowRankSettings | tuple, upload: UploadedMatrix | None = None,
                ) -> MatrixSource:
    """The matrix `settings` choose (or the one a :func:`source_key` names) and its exact
    singular values. Costs loading it (the photo and MiniLM are read once per process) and
    one LAPACK SVD (values only, O(m n min(m, n)); cached by content)."""
    from workbench.lowrank import sources as src

    key = settings if isinstance(settings, tuple) else source_key(settings, upload)
    t0 = time.perf_counter()
    kind = "matrix"
    if key[0] == "image":
        A, kind, label = src.sample_image(key[1]), "image", f"photo {key[1]}"
    elif key[0] == "minilm":
        A, label = src.minilm_matrix(key[1]), f"MiniLM {short_layer(key[1])}"
    elif key[0] == "kernel":
        A, label = src.rbf_kernel_matrix(KERNEL_SIZE, seed=0), \
            f"RBF kernel of {KERNEL_SIZE} digits"
    elif key[0] == "synthetic":
        (m, n), decay, noise = SYNTHETIC_SHAPE, key[1], key[2]
        A = src.synthetic(m, n, decay, rank=SYNTHETIC_RANK, noise=noise, seed=0).A
        label = f"synthetic {m} x {n}, {decay} decay, noise {noise:g}"
    else:
        A, label = upload.A, f"uploaded {upload.name}"
    return MatrixSource(key=key, A=A, sv=exact_singular_values(A), kind=kind, label=label,
                        seconds=time.perf_counter() - t0)


def rank_path_for(source: MatrixSource, method: str) -> RankPath:
    """`method`'s rank path of the source's matrix up to its largest rank (see
    :func:`workbench.lowrank.rank_path` for the costs). Raises a WorkbenchError where the
    method does not apply (Nyström on a matrix that is not a PSD kernel)."""
    return rank_path(source.A, source.max_rank, method, reference_sv=source.sv)


def try_rank_path(source: MatrixSource, method: str) -> RankPath | WorkbenchError:
    """``rank_path_for(source, method)``, or the WorkbenchError it raised: a refused method
    is a result too (a dashboard caches it like one and answers it with a fallback)."""
    try:
        return rank_path_for(source, method)
    except WorkbenchError as exc:
        return exc


@dataclass(frozen=True)
class ErrorCurves:
    """Every applicable method's relative Frobenius error at CURVE_RANKS ranks next to the
    optimum (``table``: method, rank, fro, fro_opt, fro_ratio, compression, seconds), the
    rank paths that made them (``paths``: method -> RankPath), and the table shown at each
    of those ranks (``rows``: rank -> DataFrame, one row per method, made once here so a
    rank step only looks one up)."""

    key: tuple
    table: pd.DataFrame
    paths: dict
    rows: dict = field(default_factory=dict)

    @staticmethod
    def shown_rows(table: pd.DataFrame) -> dict:
        """{rank: the table shown at that rank} (method labels, rounded numbers)."""
        out = {}
        for rank, sub in table.groupby("rank", sort=True):
            out[int(rank)] = pd.DataFrame({
                "method": [METHOD_LABELS.get(m, m) for m in sub["method"]],
                f"error at rank {int(rank)}": sub["fro"].round(5).to_numpy(),
                "error / optimum": sub["fro_ratio"].round(4).to_numpy(),
                "compression": sub["compression"].round(1).to_numpy(),
                "time (s, at max rank)": sub["seconds"].round(3).to_numpy(),
            })
        return out


def curve_ranks(max_rank: int) -> np.ndarray:
    """The ranks of the error curves: CURVE_RANKS geometrically spaced in 1..max_rank."""
    return np.unique(np.round(np.geomspace(1, max_rank, CURVE_RANKS)).astype(int))


def error_curves(source: MatrixSource, methods=tuple(METHOD_LABELS)) -> ErrorCurves:
    """The error curves of every method in `methods` that applies to the matrix (the
    others are left out). Costs one rank path per method and one dense approximation per
    method and rank."""
    rows, paths = [], {}
    ranks = curve_ranks(source.max_rank)
    for method in methods:
        try:
            path = rank_path_for(source, method)
        except WorkbenchError:        # Nyström on a non-PSD matrix
            continue
        paths[method] = path
        rows += path.errors(ranks)
    table = pd.DataFrame(rows)
    return ErrorCurves(key=source.key, table=table, paths=paths,
                       rows=ErrorCurves.shown_rows(table) if rows else {})


# ---------------------------------------------------------------------- the run
@dataclass(frozen=True)
class LowRankView:
    """The run at one rank: plain numbers and arrays.

    rank (clamped to 1..max_rank); kept_sv: the top `rank` singular values; fro_opt,
    energy: the Eckart–Young optimum's relative error and the energy (sum s_i^2) it keeps.
    When the method's path is there: method, approx (m x n), fro = ||A - approx||_F /
    ||A||_F, fro_ratio = fro / fro_opt, num_parameters, compression, seconds (the one
    decomposition); else those are None. table: every method's row at the curve rank
    nearest `rank` (table_rank), empty before the curves are computed.
    """

    rank: int
    max_rank: int
    label: str
    shape: tuple[int, int]
    kept_sv: np.ndarray
    fro_opt: float
    energy: float
    method: str | None = None
    approx: np.ndarray | None = None
    fro: float | None = None
    fro_ratio: float | None = None
    num_parameters: int | None = None
    compression: float | None = None
    seconds: float | None = None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    table_rank: int | None = None


@dataclass(frozen=True)
class LowRankRun:
    """A matrix (``source``), the rank path of the method shown (``path``, None until
    computed) and every method's error curves (``curves``, None until computed).
    ``at(rank)`` views it at any rank without a new decomposition."""

    source: MatrixSource
    path: RankPath | None = None
    curves: ErrorCurves | None = None

    def with_path(self, path: RankPath) -> LowRankRun:
        return replace(self, path=path)

    def with_curves(self, curves: ErrorCurves) -> LowRankRun:
        return replace(self, curves=curves)

    def known_path(self, method: str) -> RankPath | None:
        """`method`'s rank path if this run already holds it (shown or from the curves)."""
        if self.path is not None and self.path.method == method:
            return self.path
        return self.curves.paths.get(method) if self.curves is not None else None

    def export(self) -> pd.DataFrame:
        """Every method's error curves (columns method, rank, fro, fro_opt, fro_ratio,
        compression, seconds), or the singular values (index, singular_value) before
        them."""
        if self.curves is not None and not self.curves.table.empty:
            return self.curves.table
        sv = self.source.sv
        return pd.DataFrame({"index": np.arange(1, len(sv) + 1), "singular_value": sv})

    def table_at(self, rank: int) -> tuple[pd.DataFrame, int | None]:
        """(every method's row at the curve rank nearest `rank`, that rank); (empty, None)
        before the curves. A look-up: the tables were made with the curves."""
        rows = self.curves.rows if self.curves is not None else {}
        if not rows:
            return pd.DataFrame(), None
        ranks = np.sort(np.fromiter(rows, dtype=int))[::-1]    # a tie goes to the larger
        near = int(ranks[np.argmin(np.abs(ranks - int(rank)))])
        return rows[near], near

    def at(self, rank: int) -> LowRankView:
        """The view at `rank` (clamped to 1..max_rank). Costs one dense product of the
        rank-k factors (O(m n k); CUR and ID also re-form their k-sized middle) and one
        pass for the residual; no decomposition."""
        src = self.source
        k = int(min(max(1, int(rank)), src.max_rank))
        fro_opt = optimum(src.sv, k)[0]
        table, near = self.table_at(k)
        base = dict(rank=k, max_rank=src.max_rank, label=src.label, shape=src.shape,
                    kept_sv=src.sv[:k], fro_opt=fro_opt, energy=1.0 - fro_opt**2,
                    table=table, table_rank=near)
        if self.path is None:
            return LowRankView(**base)
        res = self.path.result(k)
        X = res.approx()
        fro = relative_fro_error(src.A, X, self.path.norm)
        return LowRankView(**base, method=self.path.method, approx=X, fro=fro,
                           fro_ratio=error_ratio(fro, fro_opt),
                           num_parameters=res.num_parameters,
                           compression=res.compression_ratio, seconds=self.path.seconds)


def run_lowrank(settings: LowRankSettings | None = None,
                upload: UploadedMatrix | None = None, *, curves: bool = True,
                **params) -> LowRankRun:
    """Everything at once (a notebook's or a script's entry point): the source, the rank
    path of ``settings.method`` and, with `curves`, every method's error curves.
    `params` override fields of `settings` (or make the settings). Raises a WorkbenchError
    when the method does not apply to the matrix."""
    if settings is None or params:
        given = {} if settings is None else {
            k: v for k, v in settings.param.values().items()
            if k in LowRankSettings.param and k != "name"}
        settings = LowRankSettings(**{**given, **params})
    source = load_source(settings, upload)
    run = LowRankRun(source).with_path(rank_path_for(source, settings.method))
    return run.with_curves(error_curves(source)) if curves else run


# ---------------------------------------------------------------------- completion
@dataclass(frozen=True)
class CompletionRun:
    """One completion: the matrix completed (truth), the observed entries (mask), the
    CompletionResult, and kind ("image" when it is the photo, for the colour map)."""

    truth: np.ndarray
    mask: np.ndarray
    result: object
    kind: str
    fraction: float

    @property
    def observed(self) -> np.ndarray:
        """The truth with unobserved entries NaN."""
        return np.where(self.mask, self.truth, np.nan)

    @property
    def clim(self) -> tuple[float, float]:
        if self.kind == "image":
            return (0.0, 1.0)
        c = float(np.abs(self.truth).max()) or 1.0
        return (-c, c)

    @property
    def dof(self) -> int:
        """Degrees of freedom r (m + n - r) of a rank-r matrix of this shape."""
        m, n = self.truth.shape
        r = self.result.rank
        return int(r * (m + n - r))

    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.result.history)


def completion_key(settings: CompletionSettings, source: MatrixSource | None) -> tuple:
    """What identifies a completion run (the current matrix by its source key)."""
    which = settings.completion_matrix
    return ("completion", which,
            source.key if which == "current" and source is not None else settings.true_rank,
            float(settings.fraction), int(settings.completion_rank),
            settings.completion_method)


def run_completion(settings: CompletionSettings, source: MatrixSource | None = None,
                   ) -> CompletionRun:
    """Complete a random incoherent COMPLETION_SIZE^2 matrix of rank ``true_rank`` or the
    source's matrix strided to at most COMPLETION_MAX_SIDE per side, observed at
    ``fraction`` of its entries, with ``completion_method`` at ``completion_rank``
    (clamped to the matrix). Raises ShapeError when nothing is observed. Costs up to
    COMPLETION_MAX_ITERS sweeps (see workbench.lowrank.completion)."""
    from workbench.lowrank import completion as co

    frac = float(settings.fraction)
    if settings.completion_matrix == "random":
        prob = co.completion_problem(COMPLETION_SIZE, COMPLETION_SIZE,
                                     int(settings.true_rank), frac, seed=0)
        truth, mask, kind = prob.truth, prob.mask, "matrix"
    else:
        if source is None:
            raise ShapeError("no current matrix to complete yet")
        m, n = source.shape
        truth = np.ascontiguousarray(source.A[::math.ceil(m / COMPLETION_MAX_SIDE),
                                              ::math.ceil(n / COMPLETION_MAX_SIDE)])
        mask = np.random.default_rng(0).random(truth.shape) < frac
        kind = source.kind
    if not mask.any():
        raise ShapeError("no entry observed: raise the observed fraction")
    r = min(int(settings.completion_rank), *truth.shape)
    fn = co.alternating_minimization if settings.completion_method == "altmin" \
        else co.soft_impute
    res = fn(truth, mask, r, truth=truth, max_iters=COMPLETION_MAX_ITERS, seed=0)
    return CompletionRun(truth=truth, mask=mask, result=res, kind=kind, fraction=frac)


def phase_fractions() -> np.ndarray:
    lo, hi, num = PHASE_FRACTIONS
    return np.round(np.linspace(lo, hi, num), 3)


def phase_diagram(true_rank: int, method: str = "altmin") -> pd.DataFrame:
    """Success rate of `method` on random rank-`true_rank` COMPLETION_SIZE^2 matrices
    against the observed fraction (columns fraction, success, oversampling). Costs
    len(phase_fractions()) x PHASE_SEEDS completions."""
    from workbench.lowrank.completion import phase_transition

    pt = phase_transition(COMPLETION_SIZE, COMPLETION_SIZE, int(true_rank),
                          fractions=phase_fractions(), seeds=PHASE_SEEDS, method=method,
                          max_iters=PHASE_MAX_ITERS)
    return pd.DataFrame({"fraction": pt.fractions, "success": pt.success,
                         "oversampling": pt.oversampling})
