"""Small classification data sets for curvature experiments, generated or bundled (offline).

Every generator returns a :class:`Dataset` of float tensors ``X`` (n x d) and integer labels
``y`` (n,), standardized features, from ``np.random.default_rng(seed)``; nothing is
downloaded. ``as_batches`` turns the ``data`` argument of the curvature operators (a pair of
tensors, a list of batches or a DataLoader) into a fixed list of batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from workbench.errors import InputFormatError, NonFiniteError, RankError, ShapeError

DATASETS = ("gaussian_mixture", "two_moons", "digits")


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n x d float tensor; n x 1 x 8 x 8 for digits as images), labels ``y``
    (n,) int64 tensor, the number of classes and the parameters that made it."""

    X: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str
    params: dict

    @property
    def num_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def num_features(self) -> int:
        return int(np.prod(self.X.shape[1:]))

    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X, self.y

    def to(self, dtype=None, device=None) -> Dataset:
        """The same data with floating features in `dtype` on `device`."""
        return Dataset(self.X.to(dtype=dtype or self.X.dtype, device=device),
                       self.y.to(device=device), self.num_classes, self.name, self.params)


def _standardize(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def gaussian_mixture(num_samples: int = 512, num_classes: int = 4, dim: int = 8,
                     separation: float = 3.0, seed: int = 0,
                     dtype=torch.float32) -> Dataset:
    """Isotropic Gaussian classes (unit variance) whose means are `separation` apart on
    average (random directions in `dim` dimensions). Returns a Dataset; costs O(n dim)."""
    if num_classes < 2:
        raise RankError(f"a classification problem needs at least 2 classes, got {num_classes}")
    if num_samples < num_classes:
        raise RankError(f"num_samples={num_samples} is smaller than num_classes={num_classes}")
    if dim < 1:
        raise ShapeError(f"dimension must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((num_classes, dim))
    means *= separation / np.sqrt(2.0 * dim)  # E|m_i - m_j| ~ separation
    y = np.arange(num_samples) % num_classes
    rng.shuffle(y)
    X = means[y] + rng.standard_normal((num_samples, dim))
    return Dataset(torch.as_tensor(_standardize(X), dtype=dtype), torch.as_tensor(y),
                   num_classes, "gaussian_mixture",
                   dict(num_samples=num_samples, num_classes=num_classes, dim=dim,
                        separation=separation, seed=seed))


def two_moons(num_samples: int = 512, noise: float = 0.1, seed: int = 0,
              dtype=torch.float32) -> Dataset:
    """scikit-learn's two interleaving half circles (2 classes, 2 features)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=num_samples, noise=noise, random_state=seed)
    return Dataset(torch.as_tensor(_standardize(X), dtype=dtype), torch.as_tensor(y),
                   2, "two_moons", dict(num_samples=num_samples, noise=noise, seed=seed))


def digits(num_samples: int | None = None, images: bool = False, seed: int = 0,
           dtype=torch.float32) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 samples, 10 classes), pixels scaled to [0, 1]
    then standardized (flat, 64 features) or kept as 1 x 8 x 8 images (``images=True``, for
    the CNN). ``num_samples`` takes a fixed random subset (drawn with ``seed``)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data / 16.0
    y = d.target
    if num_samples is not None and num_samples < len(y):
        idx = np.sort(np.random.default_rng(seed).choice(len(y), num_samples, replace=False))
        X, y = X[idx], y[idx]
    if images:
        Xt = torch.as_tensor(X.reshape(-1, 1, 8, 8), dtype=dtype)
    else:
        Xt = torch.as_tensor(_standardize(X), dtype=dtype)
    return Dataset(Xt, torch.as_tensor(y), 10, "digits",
                   dict(num_samples=len(y), images=images, seed=seed))


def make_dataset(name: str, **kwargs) -> Dataset:
    """One of DATASETS by name, with its keyword arguments."""
    makers = {"gaussian_mixture": gaussian_mixture, "two_moons": two_moons, "digits": digits}
    if name not in makers:
        raise InputFormatError(f"unknown data set {name!r}; choose one of {DATASETS}")
    return makers[name](**kwargs)


# --------------------------------------------------------------------------- batches
Batch = tuple[torch.Tensor, torch.Tensor]


def _check_batch(b, i: int) -> Batch:
    if not isinstance(b, (tuple, list)) or len(b) != 2:
        raise InputFormatError(f"batch {i} must be an (inputs, targets) pair, got {type(b)}")
    X, y = b
    if not (isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise InputFormatError(f"batch {i}: inputs and targets must be torch tensors, "
                               f"got {type(X).__name__} and {type(y).__name__}")
    if X.shape[0] != y.shape[0]:
        raise ShapeError(f"batch {i}: {X.shape[0]} inputs but {y.shape[0]} targets")
    if X.shape[0] == 0:
        raise ShapeError(f"batch {i} is empty")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise NonFiniteError(f"batch {i}: inputs contain NaN or inf")
    return X, y


def as_batches(data, batch_size: int | None = None, subset=None, seed: int = 0) -> list[Batch]:
    """A fixed list of (inputs, targets) batches from `data`.

    data: an (X, y) pair of tensors, a list/tuple of (X, y) batches, or a torch DataLoader
    (iterated once and stored, so a shuffling loader still gives one fixed operator).
    batch_size: split into batches of this size (the last one may be short); None keeps a
    pair as one batch and keeps given batches as they are.
    subset: None (all samples), an int (a fixed random subset of that many samples, drawn with
    `seed`) or a sequence of sample indices; the batches are formed after subsetting.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
            isinstance(t, torch.Tensor) for t in data):
        batches = [_check_batch(tuple(data), 0)]
    elif isinstance(data, torch.utils.data.DataLoader) or isinstance(data, (list, tuple)):
        batches = [_check_batch(b, i) for i, b in enumerate(data)]
    else:
        raise InputFormatError("data must be an (X, y) pair of tensors, a list of (X, y) "
                               f"batches or a torch DataLoader, got {type(data).__name__}")
    if not batches:
        raise ShapeError("data holds no batches")
    if subset is None and batch_size is None:
        return batches
    sizes = [b[0].shape[0] for b in batches]
    X = torch.cat([b[0] for b in batches]) if len(batches) > 1 else batches[0][0]
    y = torch.cat([b[1] for b in batches]) if len(batches) > 1 else batches[0][1]
    n = X.shape[0]
    if subset is not None:
        if isinstance(subset, (int, np.integer)):
            if not 1 <= subset <= n:
                raise RankError(f"subset of {subset} samples requested from {n}")
            idx = np.sort(np.random.default_rng(seed).choice(n, int(subset), replace=False))
        else:
            idx = np.asarray(subset, dtype=np.int64).ravel()
            if idx.size == 0 or idx.min() < -n or idx.max() >= n:
                raise RankError(f"subset indices must lie in [0, {n}), got {idx.size} "
                                "indices out of range or none")
        it = torch.as_tensor(idx, device=X.device)
        X, y = X[it], y[it]
    bs = batch_size if batch_size is not None else (sizes[0] if subset is None or
                                                     len(sizes) > 1 else X.shape[0])
    if bs < 1:
        raise RankError(f"batch_size must be >= 1, got {bs}")
    return [(X[i:i + bs], y[i:i + bs]) for i in range(0, X.shape[0], bs)]
