"""Neural collapse (Papyan, Han & Donoho, "Prevalence of neural collapse during the terminal
phase of deep learning training", PNAS 2020): how the penultimate features of a classifier
and its last layer settle into a simplex equiangular tight frame.

    feats = penultimate_features(model, X)           # inputs of the last nn.Linear
    nc = collapse_metrics(feats, y, weight=model[-1].weight, bias=model[-1].bias)
    nc.nc1, nc.nc2, nc.nc3, nc.nc4, nc.within_eigenvalues, nc.between_eigenvalues

With features h_i (N x p), labels y_i in 0..C-1, global mean mu_G and class means mu_c:

- Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T   (within-class covariance)
- Sigma_B = (1/C) sum_c (mu_c - mu_G)(mu_c - mu_G)^T          (between-class covariance)
- NC1 = tr(Sigma_W Sigma_B^+) / C: within-class variability against between-class;
- NC2 = || G / ||G||_F - E / ||E||_F ||_F, with G = M^T M the Gram matrix of the centred
  class means M = [mu_c - mu_G] (p x C) and E = I - 11^T / C the simplex ETF's Gram:
  the distance of the class means from a simplex equiangular tight frame;
- NC3 = || W / ||W||_F - M^T / ||M||_F ||_F^2 with W the last layer's weight (C x p):
  classifier-mean alignment (self-duality);
- NC4 = the fraction of samples whose classifier prediction argmax(W h + b) differs from
  the nearest class centre argmin_c ||h - mu_c||.

Exact collapse (every h_i at its class mean, the means a simplex ETF, W proportional to
M^T) gives 0 for all four. Cost: O(N p + p^2 C) for the metrics and O(p^3) for the two
covariance spectra (numpy float64; torch inputs are moved to the host once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import InputFormatError, ShapeError

__all__ = ["CollapseMetrics", "collapse_metrics", "penultimate_features"]


@dataclass(frozen=True)
class CollapseMetrics:
    """NC1-NC4 of one set of features (see the module docstring) and the spectra of the
    within- and between-class covariances (descending). nc3 / nc4 are NaN when no
    classifier weight was given. `num_classes`, `num_samples`, `dim` describe the input."""

    nc1: float
    nc2: float
    nc3: float
    nc4: float
    within_eigenvalues: np.ndarray
    between_eigenvalues: np.ndarray
    within_trace: float
    between_trace: float
    num_classes: int
    num_samples: int
    dim: int

    def as_dict(self) -> dict:
        """The scalar metrics (for a table row over checkpoints)."""
        return {"nc1": self.nc1, "nc2": self.nc2, "nc3": self.nc3, "nc4": self.nc4,
                "within_trace": self.within_trace, "between_trace": self.between_trace}


def _numpy(x, name: str) -> np.ndarray:
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputFormatError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputFormatError(f"{name} holds NaN or inf values")
    return arr


def collapse_metrics(features, labels, weight=None, bias=None) -> CollapseMetrics:
    """NC1-NC4 and the covariance spectra of `features` (N x p) with integer `labels` (N,)
    and optionally the last layer's `weight` (C x p) and `bias` (C,). Classes are the
    distinct labels (at least 2, each with at least one sample). Cost O(N p + p^3)."""
    H = _numpy(features, "features")
    if H.ndim != 2:
        raise ShapeError(f"features must be N x p, got shape {H.shape}")
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if y.ndim != 1 or y.shape[0] != H.shape[0]:
        raise ShapeError(f"labels must be a vector of {H.shape[0]} entries, got shape {y.shape}")
    if y.dtype.kind not in "iub":
        raise InputFormatError(f"labels must be integers, got dtype {y.dtype}")
    classes, yi = np.unique(y, return_inverse=True)
    C, (N, p) = len(classes), H.shape
    if C < 2:
        raise InputFormatError("neural collapse needs at least 2 classes in the labels")
    counts = np.bincount(yi, minlength=C).astype(float)
    means = np.zeros((C, p))
    np.add.at(means, yi, H)
    means /= counts[:, None]
    mu_g = H.mean(0)
    centred = H - means[yi]
    sigma_w = centred.T @ centred / N
    M = (means - mu_g).T                        # p x C
    sigma_b = M @ M.T / C
    nc1 = float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, hermitian=True)) / C)
    gram = M.T @ M
    etf = np.eye(C) - np.ones((C, C)) / C
    gnorm = np.linalg.norm(gram)
    nc2 = float(np.linalg.norm(gram / gnorm - etf / np.linalg.norm(etf))) if gnorm > 0 \
        else float(np.sqrt(2.0))
    nc3 = nc4 = float("nan")
    W = _numpy(weight, "weight")
    if W is not None:
        if W.shape != (C, p):
            raise ShapeError(f"weight must be {C} x {p} (classes x feature dim), got {W.shape}")
        mnorm = np.linalg.norm(M)
        nc3 = float(np.linalg.norm(W / np.linalg.norm(W) - M.T / (mnorm if mnorm > 0 else 1))
                    ** 2)
        b = np.zeros(C) if bias is None else _numpy(bias, "bias").reshape(-1)
        if b.shape != (C,):
            raise ShapeError(f"bias must have {C} entries, got shape {b.shape}")
        predicted = np.argmax(H @ W.T + b, axis=1)
        d2 = ((H[:, None, :] - means[None, :, :]) ** 2).sum(-1) if N * C * p <= 5e7 else \
            (H * H).sum(1)[:, None] - 2 * H @ means.T + (means * means).sum(1)[None, :]
        nc4 = float(np.mean(predicted != np.argmin(d2, axis=1)))
    within = np.linalg.eigvalsh(sigma_w)[::-1].clip(min=0)
    between = np.linalg.eigvalsh(sigma_b)[::-1].clip(min=0)
    return CollapseMetrics(nc1=nc1, nc2=nc2, nc3=nc3, nc4=nc4, within_eigenvalues=within,
                           between_eigenvalues=between, within_trace=float(np.trace(sigma_w)),
                           between_trace=float(np.trace(sigma_b)), num_classes=C,
                           num_samples=N, dim=p)


def penultimate_features(model, X, layer=None, batch_size: int = 1024):
    """The inputs of `layer` (default: the model's last ``nn.Linear``) on inputs X, i.e.
    the penultimate features, as an (N x p) tensor on the model's device, collected by a
    forward hook in eval mode without gradients. Returns (features, layer). Cost: one
    forward pass over X."""
    import torch

    if layer is None:
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise InputFormatError("the model has no nn.Linear layer: pass layer= explicitly")
        layer = linears[-1]
    captured = []
    handle = layer.register_forward_hook(lambda _m, inp, _out: captured.append(
        inp[0].detach().reshape(inp[0].shape[0], -1)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, X.shape[0], batch_size):
                model(X[start:start + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured, 0), layer
