"""numpy and torch (float64 / float32, CPU and CUDA when present) agree for the same seed:
probes are drawn by numpy and moved to the backend, so only rounding differs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench import spectral as sp
from workbench.spectral.synthetic import implicit_known_spectrum, known_spectrum_matrix, spectrum

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# float64: both backends run the same algorithm on the same vectors; differences are
# rounding amplified by at most the conditioning of the Ritz problem: 1e-10 relative.
# float32: eps = 1.2e-7, errors of a few hundred eps relative to ||A||: 1e-4.
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


@pytest.fixture(scope="module")
def A():
    return known_spectrum_matrix(spectrum("bulk+outliers", 200, 0), 0)


def _t(A, dtype, device):
    return torch.tensor(A, dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_top_eigs_agree(A, dtype, device):
    ref = sp.top_eigs(A, k=5, seed=0)
    res = sp.top_eigs(_t(A, dtype, device), k=5, seed=0)
    scale = np.abs(ref.values).max()
    assert isinstance(res.values, np.ndarray) and res.values.dtype == np.float64
    assert res.vectors.device.type == device and res.vectors.dtype == dtype
    assert np.allclose(res.values, ref.values, rtol=0, atol=TOL[dtype] * scale)
    # eigenvectors agree up to sign
    V = res.vectors.double().cpu().numpy()
    overlap = np.abs(np.sum(V * ref.vectors, axis=0))
    assert np.allclose(overlap, 1.0, atol=10 * TOL[dtype] ** 0.5 if dtype == torch.float32
                       else 1e-8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lanczos_and_density_agree(A, dtype, device):
    ref = sp.lanczos(A, 20, seed=1)
    res = sp.lanczos(_t(A, dtype, device), 20, seed=1)
    scale = np.abs(ref.alpha).max()
    # the first steps agree tightly; later ones drift by rounding x Krylov amplification
    assert np.allclose(res.alpha[:5], ref.alpha[:5], atol=TOL[dtype] * scale)
    assert np.allclose(res.ritz()[0][-5:], ref.ritz()[0][-5:], atol=TOL[dtype] * 10)
    d_ref = sp.spectral_density(A, 4, 15, seed=2)
    d = sp.spectral_density(_t(A, dtype, device), 4, 15, seed=2)
    assert np.allclose(d.nodes[:, -3:], d_ref.nodes[:, -3:], atol=TOL[dtype] * 10)
    assert np.allclose(d.density, d_ref.density, atol=TOL[dtype] * 100 * d_ref.density.max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_trace_and_randomized_agree(A, dtype, device):
    At = _t(A, dtype, device)
    scale = np.abs(A).sum()
    for method in ("hutchinson", "hutch++", "xtrace"):
        ref = sp.trace(A, method, 20, seed=3)
        res = sp.trace(At, method, 20, seed=3)
        assert res.estimate == pytest.approx(ref.estimate, abs=TOL[dtype] * scale)
    s_ref = sp.randomized_svd(A, 5, seed=4).s
    U, s, Vt = sp.randomized_svd(At, 5, seed=4)
    assert U.device.type == device and Vt.dtype == dtype
    assert np.allclose(s, s_ref, atol=TOL[dtype] * s_ref[0])


@pytest.mark.parametrize("device", DEVICES)
def test_implicit_torch_operator(device):
    """A callable torch operator (the shape of a Hessian-vector product) on the device."""
    rng = np.random.default_rng(0)
    lam = np.concatenate([0.05 * rng.standard_normal(995), [1.0, 1.5, 2.0, 3.0, 4.0]])
    op = implicit_known_spectrum(lam, 0, backend="torch", dtype=torch.float64, device=device)
    res = sp.top_eigs(op, k=5)
    assert res.converged and res.vectors.device.type == device
    assert np.allclose(res.values, [4.0, 3.0, 2.0, 1.5, 1.0], atol=1e-9)
