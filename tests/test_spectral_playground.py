"""The playground run (workbench.spectral.playground): its cheap views at fewer steps equal
what the engine computes directly with that many steps, and its exact references are the
spectrum's."""

from __future__ import annotations

import numpy as np
import pytest

from workbench import spectral as sp
from workbench.errors import WorkbenchError
from workbench.spectral.playground import density_grid, run_playground
from workbench.spectral.synthetic import implicit_known_spectrum, spectrum


@pytest.fixture(scope="module")
def run():
    return run_playground("marchenko-pastur", n=600, max_steps=24, num_probes=6, k=3, seed=2)


def test_view_equals_a_direct_run_with_fewer_steps(run):
    lam = spectrum("marchenko-pastur", 600, 2)
    assert np.array_equal(run.eigenvalues, lam)
    op = implicit_known_spectrum(lam, 2)  # the same operator the run used
    view = run.at(9)
    direct = sp.spectral_density(op, 6, 9, seed=2, grid=run.grid)
    assert np.allclose(view.slq.density, direct.density, atol=1e-10 * direct.density.max())
    assert view.slq.num_matvecs == direct.num_matvecs == 54
    kpm = sp.spectral_density(op, 6, 19, seed=2, grid=run.grid, method="kpm")
    assert np.allclose(view.kpm.density, kpm.density, atol=1e-10 * kpm.density.max())
    assert view.kpm.num_matvecs == kpm.num_matvecs
    # probe 0's Ritz values at step 9 are those of a 9-step Lanczos run from that probe
    z = op.random_block(6, np.random.default_rng(2), dist="rademacher")[:, 0]
    ref = sp.lanczos(op, 9, v0=z).ritz()[0]
    vals, _ = view.ritz.at(9)
    assert np.allclose(vals, ref, atol=1e-10)
    assert view.ritz.num_steps == 9 and view.ritz.step.max() == 9
    assert view.slq_error == pytest.approx(sp.wasserstein_error(lam, direct, smoothed=True))
    assert view.top_ritz_error == pytest.approx(abs(ref[-1] - lam[-1]))


def test_broadening_and_clamping(run):
    wide = run.at(10, broadening=2.0)
    base = run.at(10)
    assert wide.slq.sigma == pytest.approx(2.0 * base.slq.sigma)
    assert np.array_equal(wide.slq.nodes, base.slq.nodes)
    assert run.at(0).step == 1 and run.at(500).step == run.steps_run == 24
    # more steps, closer to the exact distribution (W1 of the node measure: ~range/m)
    errs = [sp.wasserstein_error(run.eigenvalues, run.at(j).slq) for j in (3, 8, 24)]
    assert errs[0] > errs[1] > errs[2]


def test_references(run):
    assert run.grid[0] < run.eigenvalues[0] and run.grid[-1] > run.eigenvalues[-1]
    widths = np.diff(run.hist_edges)
    assert np.sum(run.hist_density * widths) == pytest.approx(1.0)
    assert len(run.marks) == 600 and run.race.k == 3
    assert set(run.race.curves) == {"top_eigs", "power iteration"}
    assert np.allclose(density_grid([2.0, 2.0], 5), np.linspace(1.5, 2.5, 5))


def test_exhausted_krylov_space_is_reported():
    run = run_playground("degenerate", n=200, max_steps=10, num_probes=3, k=2)
    assert run.ritz.num_steps == 3
    assert run.at(2).exhausted_at is None and run.at(5).exhausted_at == 3
    vals, _ = run.at(5).ritz.at(3)
    assert np.allclose(vals, [-2, 3, 10], atol=1e-10)
    with pytest.raises(WorkbenchError):
        run_playground("bulk+outliers", n=1)
