"""A small array namespace that lets one algorithm run on numpy arrays and torch tensors.

The engine keeps Krylov bases and sketches in the operator's own backend (numpy, or a torch
tensor on CPU/CUDA) and does the small dense work (tridiagonal eigenproblems, tiny SVDs) in
numpy float64. Random vectors are always drawn by numpy's ``Generator`` from the caller's
seed and then moved to the backend, so numpy and torch runs with the same seed see the same
probes (and agree to rounding), on any device.

Only the handful of operations the engine needs is here; numpy and torch already share
``@``, ``.T``, slicing and arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # torch is a dependency, but keep the numpy path importable without it
    import torch
except ImportError:  # pragma: no cover - exercised only in torch-less installs
    torch = None


def is_torch(x: Any) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def backend_of(x: Any) -> str:
    return "torch" if is_torch(x) else "numpy"


def to_numpy(x: Any) -> np.ndarray:
    """Return `x` as a numpy array (copying from the GPU if needed)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def like(a: np.ndarray, ref: Any) -> Any:
    """Convert numpy array `a` to the backend, dtype and device of `ref`."""
    if is_torch(ref):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=ref.dtype, device=ref.device)
    return np.asarray(a, dtype=ref.dtype)


def convert(a: np.ndarray, backend: str, dtype: Any, device: Any = None) -> Any:
    """Convert numpy array `a` to `backend` ("numpy" or "torch") with `dtype` on `device`."""
    if backend == "torch":
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)
    return np.asarray(a, dtype=dtype)


def zeros(shape: tuple[int, ...], backend: str, dtype: Any, device: Any = None) -> Any:
    if backend == "torch":
        return torch.zeros(shape, dtype=dtype, device=device)
    return np.zeros(shape, dtype=dtype)


def norm(x: Any, axis: int | None = None) -> Any:
    """2-norm of a vector, or of each column (axis=0) / row (axis=1)."""
    if is_torch(x):
        return torch.linalg.vector_norm(x, dim=axis)
    return np.linalg.norm(x, axis=axis)


def qr(x: Any) -> tuple[Any, Any]:
    """Thin QR of a tall matrix."""
    if is_torch(x):
        return torch.linalg.qr(x, mode="reduced")
    return np.linalg.qr(x, mode="reduced")


def concat(xs: list[Any], axis: int = 1) -> Any:
    if xs and is_torch(xs[0]):
        return torch.cat(xs, dim=axis)
    return np.concatenate(xs, axis=axis)


def all_finite(x: Any) -> bool:
    """True when `x` holds no NaN or inf. One reduction (the sum: NaN and inf propagate
    into it) and, only when the sum is not finite (a non-finite entry, or finite entries
    whose sum overflows), the elementwise check: on a 22.7M-vector the elementwise check
    alone costs ~25x the sum (temporaries of the vector's size)."""
    if is_torch(x):
        if x.is_floating_point() or x.is_complex():
            if bool(torch.isfinite(x.sum())):
                return True
        return bool(torch.isfinite(x).all())
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(x.sum()):
                return True
    return bool(np.isfinite(x).all())


def scalar(x: Any) -> float:
    """A Python float from a 0-d numpy/torch value."""
    if is_torch(x):
        return float(x.item())
    return float(x)


def random_block(
    n: int,
    k: int,
    rng: np.random.Generator,
    backend: str,
    dtype: Any,
    device: Any = None,
    dist: str = "gaussian",
) -> Any:
    """An n x k block of random vectors drawn by numpy from `rng`, moved to the backend.

    dist: "gaussian" (N(0,1)) or "rademacher" (+-1).
    """
    if dist == "gaussian":
        a = rng.standard_normal((n, k))
    elif dist == "rademacher":
        a = rng.choice(np.array([-1.0, 1.0]), size=(n, k))
    else:
        raise ValueError(f"unknown probe distribution {dist!r}; use 'gaussian' or 'rademacher'")
    return convert(a, backend, dtype, device)


def numpy_dtype(dtype: Any) -> np.dtype:
    """numpy dtype matching a numpy or torch dtype."""
    if torch is not None and isinstance(dtype, torch.dtype):
        return np.dtype(str(dtype).replace("torch.", ""))
    return np.dtype(dtype)


def eps(dtype: Any) -> float:
    """Machine epsilon of a numpy or torch floating dtype."""
    return float(np.finfo(numpy_dtype(dtype)).eps)
