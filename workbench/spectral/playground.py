"""The spectral engine on a test spectrum with known eigenvalues, computed once and then
viewed at any number of Lanczos steps without new products: what the "Spectral engine
playground" dashboard and the engine notebook show.

    run = run_playground("bulk+outliers", n=2000, max_steps=40, num_probes=10)
    view = run.at(step=12)          # no matvecs: leading blocks of the stored tridiagonals
    view.slq, view.kpm, view.ritz, view.slq_error, view.kpm_error

One run costs P * max_steps products for SLQ, P * max_steps + 20 for KPM (2 max_steps + 1
Chebyshev moments), and the products of the top_eigs / power-iteration race (see
:func:`workbench.spectral.convergence.race_top_eigs`), all on an O(n)-per-product
operator H diag(lambda) H^T.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from workbench.spectral._checks import check_positive_int
from workbench.spectral.convergence import SolverRace, race_top_eigs
from workbench.spectral.density import (
    eigenvalue_histogram,
    eigenvalue_marks,
    spectral_density,
    wasserstein_error,
)
from workbench.spectral.results import DensityResult, RitzSteps
from workbench.spectral.synthetic import implicit_known_spectrum, spectrum


@dataclass(frozen=True)
class PlaygroundView:
    """The estimates after `step` Lanczos steps (matvecs per probe).

    slq: SLQ density on the run's grid (broadened by `broadening` x the default sigma);
    kpm: KPM density with 2 step + 1 Chebyshev moments (the same P * step products);
    ritz: Ritz values of probe 0's Lanczos run at steps 1..step; slq_error, kpm_error:
    Wasserstein-1 distances of the two curves drawn to the exact eigenvalues (SLQ's
    includes its broadening); top_ritz_error: |largest Ritz value
    - largest eigenvalue| at this step.
    """

    step: int
    broadening: float
    slq: DensityResult
    kpm: DensityResult
    ritz: RitzSteps
    slq_error: float
    kpm_error: float
    top_ritz_error: float
    exhausted_at: int | None


@dataclass(frozen=True)
class PlaygroundRun:
    """Everything computed for one test spectrum: the exact eigenvalues, their histogram
    and plot marks, SLQ and KPM at `max_steps`, probe 0's Ritz values at every step and
    the top-k race. ``at(step)`` views it at fewer steps for free."""

    kind: str
    n: int
    max_steps: int
    num_probes: int
    k: int
    seed: int
    eigenvalues: np.ndarray
    hist_edges: np.ndarray
    hist_density: np.ndarray
    marks: np.ndarray
    grid: np.ndarray
    slq: DensityResult
    kpm: DensityResult
    ritz: RitzSteps
    race: SolverRace
    seconds: float

    @property
    def steps_run(self) -> int:
        """Lanczos steps actually available (< max_steps when n is small or the Krylov
        space of every probe was exhausted)."""
        return int(self.slq.alpha.shape[1])

    def at(self, step: int, broadening: float = 1.0) -> PlaygroundView:
        """The view after `step` steps (clamped to 1..steps_run), SLQ broadened with
        `broadening` x its default sigma. Cost O(P step^2 + G P step + n log n), no
        matvecs."""
        j = int(min(max(1, int(step)), self.steps_run))
        base = self.slq.with_steps(j, grid=self.grid)
        slq = base if broadening == 1.0 else base.with_sigma(base.sigma * float(broadening),
                                                             grid=self.grid)
        kpm = self.kpm.with_steps(min(2 * j + 1, len(self.kpm.moments)), grid=self.grid)
        ritz = self.ritz.upto(j)
        top = ritz.value[(ritz.step == ritz.num_steps) & (ritz.rank == 0)]
        exhausted = self.ritz.num_steps if self.ritz.num_steps < self.steps_run else None
        return PlaygroundView(
            step=j, broadening=float(broadening), slq=slq, kpm=kpm, ritz=ritz,
            slq_error=wasserstein_error(self.eigenvalues, slq, smoothed=True),
            kpm_error=wasserstein_error(self.eigenvalues, kpm),
            top_ritz_error=float(abs(top[0] - self.eigenvalues[-1])) if len(top) else np.nan,
            exhausted_at=exhausted if exhausted is not None and exhausted <= j else None)


def density_grid(eigenvalues, size: int = 400, pad: float = 0.08) -> np.ndarray:
    """`size` points over the exact spectral interval widened by `pad` of its width on
    each side (0.5 when the spectrum is a single value)."""
    lo, hi = float(np.min(eigenvalues)), float(np.max(eigenvalues))
    width = hi - lo if hi > lo else 0.5 / pad
    return np.linspace(lo - pad * width, hi + pad * width, int(size))


def run_playground(kind: str = "bulk+outliers", n: int = 2000, max_steps: int = 40,
                   num_probes: int = 10, k: int = 5, seed: int = 0, bins: int = 80,
                   grid_size: int = 400, race_matvecs: int = 1500) -> PlaygroundRun:
    """Build the test operator of spectrum `kind` (size n, O(n) per product), run SLQ
    (num_probes x max_steps, full reorthogonalization) and KPM (2 max_steps + 1 moments)
    with the same probes' seed, take probe 0's Ritz values step by step, and race
    top_eigs against power iteration with deflation for the k largest-magnitude
    eigenvalues (tolerance 1e-6, at most ~race_matvecs products each).

    Returns PlaygroundRun. Cost: num_probes * (2 max_steps) + ~20 + the race's products,
    O(n max_steps^2 num_probes) flops of reorthogonalization.
    """
    t0 = time.perf_counter()
    n = check_positive_int(n, "n", 2)
    max_steps = check_positive_int(max_steps, "max_steps")
    num_probes = check_positive_int(num_probes, "num_probes")
    k = min(check_positive_int(k, "k"), n)
    lam = spectrum(kind, n, seed)
    op = implicit_known_spectrum(lam, seed)
    grid = density_grid(lam, grid_size)
    slq = spectral_density(op, num_probes, max_steps, seed=seed, grid=grid)
    kpm = spectral_density(op, num_probes, 2 * max_steps + 1, seed=seed, grid=grid,
                           method="kpm")
    ritz = slq.probe_lanczos(0).ritz_steps()
    race = race_top_eigs(op, lam, k=k, tol=1e-6, seed=seed, max_matvecs=race_matvecs)
    edges, hist = eigenvalue_histogram(lam, bins, range=(grid[0], grid[-1]))
    return PlaygroundRun(kind=kind, n=n, max_steps=max_steps, num_probes=num_probes, k=k,
                         seed=seed, eigenvalues=lam, hist_edges=edges, hist_density=hist,
                         marks=eigenvalue_marks(lam), grid=grid, slq=slq, kpm=kpm,
                         ritz=ritz, race=race, seconds=time.perf_counter() - t0)
