"""The random-matrix demos of the explorer's "Random matrices" tab, sampled in one call:
Marchenko–Pastur, a planted spike (BBP), the Wigner semicircle and heavy-tailed entries,
each with the theory it is compared against.

    demos = run_rmt_demos(Q=4.0, theta=2.0, M=300)
    demos.spiked[-1], demos.spike_location        # observed vs predicted top eigenvalue
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from workbench.eigenspectra import rmt

__all__ = ["RMTDemos", "run_rmt_demos"]


@dataclass(frozen=True)
class RMTDemos:
    """Samples for one setting: W is N x M, N = round(Q M), gamma = M / N.

    ``mp``: eigenvalues of W^T W / N (Gaussian entries of std sigma); ``spiked``,
    ``overlap``: sample covariance eigenvalues with a planted spike theta and the top
    eigenvector's squared overlap with it; ``wigner``: an M x M symmetric matrix's
    eigenvalues; ``heavy``, ``heavy_fit``: W^T W / N for entries with tail exponent mu and
    its power-law fit. The theory values are properties."""

    Q: float
    sigma: float
    theta: float
    mu: float
    M: int
    seed: int
    N: int
    mp: np.ndarray = field(repr=False)
    spiked: np.ndarray = field(repr=False)
    overlap: float
    wigner: np.ndarray = field(repr=False)
    heavy: np.ndarray = field(repr=False)
    heavy_fit: object = field(repr=False)  # PowerLawFit
    seconds: float = 0.0

    @property
    def gamma(self) -> float:
        return self.M / self.N

    @property
    def Q_eff(self) -> float:
        """N / M with N rounded to an integer (the aspect ratio actually sampled)."""
        return self.N / self.M

    @property
    def mp_edges(self) -> tuple[float, float]:
        return rmt.mp_edges(self.Q_eff, self.sigma)

    @property
    def bbp_threshold(self) -> float:
        return rmt.bbp_threshold(self.gamma)

    @property
    def above_threshold(self) -> bool:
        return self.theta > self.bbp_threshold

    @property
    def spike_location(self) -> float:
        return rmt.spike_location(self.theta, self.gamma)

    @property
    def spike_overlap(self) -> float:
        return rmt.spike_overlap(self.theta, self.gamma)

    @property
    def heavy_alpha(self) -> float:
        return rmt.heavy_tail_alpha(self.mu)


def run_rmt_demos(Q: float = 2.0, sigma: float = 1.0, theta: float = 1.5, mu: float = 1.0,
                  M: int = 300, seed: int = 0) -> RMTDemos:
    """Sample the four demos (N = round(Q M)). Returns RMTDemos. Cost: three N x M x M
    Gram products, three M x M eigvalsh/eigh, one M x M symmetric eigvalsh and a KS scan
    (M = 800: about 0.5 s)."""
    from workbench.eigenspectra.powerlaw import fit_powerlaw

    t0 = time.perf_counter()
    M, seed = int(M), int(seed)
    N = int(round(float(Q) * M))
    spiked, overlap = rmt.sample_spiked_covariance(N, M, theta, seed=seed)
    heavy = rmt.sample_heavy_tailed(N, M, mu, seed=seed)
    return RMTDemos(Q=float(Q), sigma=float(sigma), theta=float(theta), mu=float(mu), M=M,
                    seed=seed, N=N, mp=rmt.sample_mp(N, M, sigma=sigma, seed=seed),
                    spiked=spiked, overlap=float(overlap),
                    wigner=rmt.sample_wigner(M, sigma=sigma, seed=seed), heavy=heavy,
                    heavy_fit=fit_powerlaw(heavy), seconds=time.perf_counter() - t0)
