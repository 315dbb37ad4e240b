"""Datasets for clustering: scikit-learn's six toy sets (with noise and size up to a million
points), digits, a planted-partition graph (stochastic block model) and a two-cluster
Gaussian mixture with tunable signal strength, with their detectability thresholds.

Everything is generated (or bundled with scikit-learn): nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from workbench.errors import NonFiniteError, RankError, ShapeError

TOY_DATASETS = ("circles", "moons", "varied", "aniso", "blobs", "no_structure")
MAX_SAMPLES = 1_000_000
# the blob centres scikit-learn's gallery gets from make_blobs(random_state=8 / 170)
_BLOBS_CENTERS = np.array([[7.47, 9.37], [7.38, 0.62], [-5.35, -9.77]])
_VARIED_CENTERS = np.array([[-8.95, -5.46], [-4.59, 0.09], [1.94, 0.51]])


@dataclass(frozen=True)
class Dataset:
    """Points ``X`` (n x d, float64) with their true labels (``None`` where there are none,
    as for "no_structure"), the true number of clusters, and the parameters that made it."""

    name: str
    X: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    n_clusters: int
    params: dict

    @property
    def n(self) -> int:
        return self.X.shape[0]


@dataclass(frozen=True)
class GraphDataset:
    """A graph given by its (sparse, symmetric, 0/1) adjacency matrix ``W`` with the
    planted labels; ``threshold`` is the theoretical detectability threshold of the signal
    parameter ``params["signal"]`` (see ``planted_partition``)."""

    name: str
    W: sp.csr_matrix = field(repr=False)
    labels: np.ndarray = field(repr=False)
    n_clusters: int
    params: dict
    threshold: float

    @property
    def n(self) -> int:
        return self.W.shape[0]


def _check_n(n_samples: int, minimum: int = 2) -> int:
    n = int(n_samples)
    if not minimum <= n <= MAX_SAMPLES:
        raise RankError(f"n_samples={n_samples} is out of range: need {minimum} <= n_samples "
                        f"<= {MAX_SAMPLES:,}")
    return n


def _standardize(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def toy_dataset(name: str, n_samples: int = 1500, noise: float = 1.0, seed: int = 0,
                standardize: bool = True) -> Dataset:
    """One of scikit-learn's six toy sets of the "comparing clustering algorithms" page.

    name: "circles", "moons", "varied" (blobs of unequal spread), "aniso" (sheared blobs),
    "blobs" or "no_structure" (uniform in the unit square, no labels).
    noise: a multiple of the gallery's noise (1 = as on scikit-learn's page): the Gaussian
    noise of circles/moons (0.05 each), the cluster spread of the blobs (1.0; varied:
    1.0/2.5/0.5; aniso: 1.0). 0 gives noiseless shapes.
    standardize: scale every feature to zero mean and unit variance (as the gallery does).
    Returns Dataset (X float64 n x 2). Cost: O(n).
    """
    from sklearn import datasets as skd

    n = _check_n(n_samples)
    if noise < 0 or not np.isfinite(noise):
        raise RankError(f"noise must be finite and >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    rs = int(rng.integers(2**31 - 1))
    if name == "circles":
        X, y = skd.make_circles(n, factor=0.5, noise=0.05 * noise, random_state=rs)
        k = 2
    elif name == "moons":
        X, y = skd.make_moons(n, noise=0.05 * noise, random_state=rs)
        k = 2
    elif name == "blobs":
        centers = _BLOBS_CENTERS
        X, y = skd.make_blobs(n, centers=centers, cluster_std=1.0 * noise, random_state=rs)
        k = 3
    elif name == "varied":
        X, y = skd.make_blobs(n, centers=_VARIED_CENTERS,
                              cluster_std=np.array([1.0, 2.5, 0.5]) * noise,
                              random_state=rs)
        k = 3
    elif name == "aniso":
        X, y = skd.make_blobs(n, centers=_VARIED_CENTERS, cluster_std=1.0 * noise,
                              random_state=rs)
        X = X @ np.array([[0.6, -0.6], [-0.4, 0.8]])
        k = 3
    elif name == "no_structure":
        X, y, k = rng.random((n, 2)), None, 1
    else:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {TOY_DATASETS}")
    X = np.asarray(X, dtype=np.float64)
    if standardize:
        X = _standardize(X)
    labels = None if y is None else np.asarray(y, dtype=np.int32)
    return Dataset(name, X, labels, k,
                   {"n_samples": n, "noise": float(noise), "seed": seed,
                    "standardize": standardize})


def digits(standardize: bool = False) -> Dataset:
    """scikit-learn's bundled 8 x 8 handwritten digits: 1797 points in 64 dimensions, 10
    classes. Returns Dataset (X float64, pixel values 0..16 unless standardized)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float64)
    if standardize:
        X = _standardize(X)
    return Dataset("digits", X, d.target.astype(np.int32), 10,
                   {"standardize": standardize})


# ---------------------------------------------------------------------- phase transitions
def gaussian_threshold(n_samples: int, n_features: int) -> float:
    """Detectability threshold of the two-cluster mixture x = y mu + z (``two_gaussians``):
    the signal ||mu|| = (d / n)^(1/4) (the BBP transition of the sample covariance). Below
    it the top principal direction carries no information about the labels (as n, d grow
    with d/n fixed); above, spectral clustering's accuracy is ``gaussian_accuracy``."""
    return float((n_features / n_samples) ** 0.25)


def gaussian_overlap(signal, n_samples: int, n_features: int):
    """Asymptotic squared overlap <u, y/sqrt(n)>^2 of the top left singular vector u of X
    with the labels: (1 - c/s^4) / (1 + 1/s^2) above the threshold s > c^(1/4), else 0
    (c = d/n, s = signal; Benaych-Georges & Nadakuditi 2012). Returns an array like
    `signal`. Cost: O(len(signal))."""
    s = np.asarray(signal, dtype=np.float64)
    c = n_features / n_samples
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (1.0 - c / s**4) / (1.0 + 1.0 / s**2)
    return np.where(s**4 > c, rho, 0.0)


def gaussian_accuracy(signal, n_samples: int, n_features: int):
    """Asymptotic accuracy of clustering the two-cluster mixture by the sign of the top
    singular vector: Phi(sqrt(rho / (1 - rho))) with rho = ``gaussian_overlap`` (0.5 below
    the threshold). Returns an array like `signal`."""
    from scipy.stats import norm

    rho = np.clip(gaussian_overlap(signal, n_samples, n_features), 0.0, 1.0 - 1e-15)
    return norm.cdf(np.sqrt(rho / (1.0 - rho)))


def two_gaussians(n_samples: int = 2000, n_features: int = 1000, signal: float = 1.5,
                  seed: int = 0) -> Dataset:
    """Two-cluster Gaussian mixture x_i = y_i mu + z_i with y_i = +-1 equally likely,
    z_i ~ N(0, I_d) and ||mu|| = signal (along the first axis). With d comparable to n the
    clusters are detectable only when signal > (d/n)^(1/4) (``gaussian_threshold``).
    Returns Dataset (labels 0/1; params hold signal, threshold). Cost: O(n d)."""
    n = _check_n(n_samples)
    d = int(n_features)
    if d < 1:
        raise RankError(f"n_features must be >= 1, got {n_features}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    X = rng.standard_normal((n, d))
    X[:, 0] += signal * (2 * y - 1)
    return Dataset("two_gaussians", X, y, 2,
                   {"n_samples": n, "n_features": d, "signal": float(signal), "seed": seed,
                    "threshold": gaussian_threshold(n, d)})


def sbm_threshold(n_clusters: int, mean_degree: float) -> float:
    """Kesten-Stigum threshold of the symmetric planted partition with k equal blocks and
    mean degree c: with a = n p_in and b = n p_out (so c = (a + (k-1) b) / k), the blocks
    are detectable (by any method, for k = 2) iff a - b > k sqrt(c). Returns that value of
    the signal a - b."""
    return float(n_clusters * np.sqrt(mean_degree))


def planted_partition(n_samples: int = 2000, n_clusters: int = 2, mean_degree: float = 10.0,
                      signal: float | None = None, seed: int = 0) -> GraphDataset:
    """A sparse stochastic block model: k equal blocks, edge probability a/n inside a block
    and b/n across, with a + (k-1) b = k * mean_degree and a - b = signal (default: twice
    the Kesten-Stigum threshold ``sbm_threshold``). Self-loops are added (degree >= 1).

    Returns GraphDataset (W CSR 0/1 symmetric, labels by block, threshold). Cost: O(n c)
    (edge counts drawn per block pair, endpoints uniformly; never an n x n matrix).
    """
    n = _check_n(n_samples, minimum=2)
    k = int(n_clusters)
    if not 1 <= k <= n:
        raise RankError(f"n_clusters={k} is out of range: need 1 <= n_clusters <= {n}")
    c = float(mean_degree)
    thr = sbm_threshold(k, c)
    s = 2.0 * thr if signal is None else float(signal)
    a = c + s * (k - 1) / k
    b = c - s / k
    if a > n or b < 0:
        raise RankError(f"signal={s:.3g} is out of range for mean degree {c}: need "
                        f"0 <= b = c - s/k and a = c + s (k-1)/k <= n")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k, dtype=np.int32), -(-n // k))[:n]
    rng.shuffle(labels)
    members = [np.flatnonzero(labels == g) for g in range(k)]
    rows, cols = [], []
    for g in range(k):
        for h in range(g, k):
            p = (a if g == h else b) / n
            pairs = (len(members[g]) * (len(members[g]) - 1) // 2 if g == h
                     else len(members[g]) * len(members[h]))
            m = rng.binomial(pairs, min(p, 1.0))
            if m == 0:
                continue
            i = members[g][rng.integers(0, len(members[g]), m)]
            j = members[h][rng.integers(0, len(members[h]), m)]
            keep = i != j
            rows.append(i[keep])
            cols.append(j[keep])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    cc = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    A = sp.coo_matrix((np.ones(r.size), (r, cc)), shape=(n, n)).tocsr()
    A = A + A.T
    A.data[:] = 1.0
    A = (A + sp.identity(n, format="csr")).tocsr()
    A.data[:] = 1.0
    return GraphDataset("planted_partition", A, labels, k,
                        {"n_samples": n, "n_clusters": k, "mean_degree": c, "signal": s,
                         "a": a, "b": b, "seed": seed}, thr)


def plane(data: Dataset) -> np.ndarray:
    """2-D coordinates to draw a dataset: X itself when d <= 2, the first two coordinates
    for "two_gaussians" (the signal axis and a noise axis), else the top two principal
    components. Returns (n, 2) float64. Cost: O(n d^2) for the principal components."""
    X = data.X
    if X.shape[1] == 1:
        return np.column_stack([X[:, 0], np.zeros(len(X))])
    if X.shape[1] == 2 or data.name == "two_gaussians":
        return np.ascontiguousarray(X[:, :2])
    Xc = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc[: min(len(Xc), 20_000)], full_matrices=False)
    return Xc @ Vt[:2].T


#: the users' own point sets (``user_dataset``), by name ("user-<digest>")
USER_DATASETS: dict[str, Dataset] = {}


def user_dataset(X, y=None, label: str = "your data") -> Dataset:
    """Your points `X` (n x d, n >= 3) with optional labels `y` (n values) as a Dataset
    named "user-<digest of the values>" that ``load`` (hence ``run_clustering``) finds by
    that name. Raises ShapeError (not 2-D, too few points, y of another length) or
    NonFiniteError (NaN / inf, counted) naming the problem. Cost: one pass over X."""
    import hashlib

    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number) or \
            np.issubdtype(X.dtype, np.complexfloating):
        raise ShapeError(f"{label} must be an array of real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = (" (one feature per point: pass X.reshape(-1, 1))" if X.ndim == 1 else "")
        raise ShapeError(f"{label} must be 2-D (points x features), got a {X.ndim}-D array "
                         f"of shape {X.shape}{hint}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    if n < 3 or d < 1:
        raise ShapeError(f"{label} needs at least 3 points and 1 feature, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise NonFiniteError(
            f"{label} holds {int(np.isnan(X).sum())} NaN and {int(np.isinf(X).sum())} "
            f"infinite values in {len(rows)} of its {n} rows (first: row {rows[0]}); drop "
            f"or impute them first")
    labels = None
    if y is not None:
        labels = np.asarray(y).ravel()
        if labels.shape[0] != n:
            raise ShapeError(f"y has {labels.shape[0]} labels for {n} points")
        _, labels = np.unique(labels, return_inverse=True)
    k = int(labels.max() + 1) if labels is not None else 3
    digest = hashlib.sha1(X.tobytes() + (labels.tobytes() if labels is not None else b"")
                          ).hexdigest()[:12]
    name = f"user-{digest}"
    data = Dataset(name, X, labels, max(2, k), {"n_samples": n, "label": label})
    USER_DATASETS[name] = data
    return data


def load(name: str, n_samples: int = 1500, noise: float = 1.0, seed: int = 0) -> Dataset:
    """Any point dataset by name: the toy sets, "digits" (fixed size), "two_gaussians"
    (signal = 2 x noise, 50 features), or a user's points (``user_dataset``, fixed size).
    Returns Dataset."""
    if name in USER_DATASETS:
        return USER_DATASETS[name]
    if name in TOY_DATASETS:
        return toy_dataset(name, n_samples, noise, seed)
    if name == "digits":
        return digits()
    if name == "two_gaussians":
        return two_gaussians(n_samples, 50, signal=2.0 * noise, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of "
                     f"{(*TOY_DATASETS, 'digits', 'two_gaussians')}")
