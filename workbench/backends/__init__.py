"""Backend selection, array helpers, thread caps and numba set-up.

numpy is the reference backend and always available; torch gives autograd and CUDA; numba
compiles the hot loops numpy cannot vectorize.
"""

from __future__ import annotations

from workbench.backends.arrays import backend_of, is_torch, to_numpy
from workbench.backends.numba_support import HAVE_NUMBA, parallel_guard, warm_up
from workbench.backends.threads import cap_threads, limited_threads

BACKENDS = ("numpy", "numba", "torch")


def available() -> list[str]:
    """Backends importable in this environment, numpy first."""
    out = ["numpy"]
    if HAVE_NUMBA:
        out.append("numba")
    try:
        import torch  # noqa: F401

        out.append("torch")
    except ImportError:  # pragma: no cover
        pass
    return out


def resolve(backend: str, preference: tuple[str, ...] = ("numba", "numpy")) -> str:
    """Resolve "auto" to the first available of `preference`; validate explicit names."""
    avail = available()
    if backend == "auto":
        for name in preference:
            if name in avail:
                return name
        return "numpy"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS} or 'auto'")
    if backend not in avail:
        raise ValueError(f"backend {backend!r} is not installed here")
    return backend


def torch_device(device: str = "auto"):
    """A torch.device: "auto" means CUDA when available, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


__all__ = [
    "BACKENDS", "HAVE_NUMBA", "available", "backend_of", "cap_threads", "is_torch",
    "limited_threads", "parallel_guard", "resolve", "to_numpy", "torch_device", "warm_up",
]
