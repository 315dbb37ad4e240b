"""Eigenvalues of weight matrices: full ESD via the Gram matrix, FARMS pooled submatrix
ESD, and the randomized (element-shuffled) baseline.

The ESD of W (N x M, N >= M) is the spectrum of the M x M Gram matrix W^T W — the squared
singular values, as WeightWatcher computes them by a full SVD. Forming the Gram matrix and
calling ``eigvalsh`` costs N M^2 + O(M^3) flops and is several times cheaper than an SVD;
in float64 its eigenvalues agree with the squared singular values to ~1e-13 relative for
the tail that the power-law fit uses.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LayerSpectrum", "gram_eigenvalues", "farms_eigenvalues", "shuffled_eigenvalues",
           "layer_spectrum", "batched_gram_eigenvalues", "DEFAULT_BATCH_BYTES"]

# device memory one batch of layers may take (float64 copies + Gram matrices + eigvalsh
# workspace): 2 GiB, whatever the number of layers
DEFAULT_BATCH_BYTES = 2 * 2**30


_controller = None
_controller_lock = threading.Lock()


@contextmanager
def single_blas_thread():
    """Run BLAS/LAPACK on one thread inside the block.

    The many small (M <= a few thousand) eigvalsh calls of an ESD scan are 4-50x *slower*
    with a multi-threaded OpenBLAS on a loaded machine (thread spinning; measured on the
    2-core dev box), and a dashboard server already runs sessions in parallel.
    """
    global _controller
    from threadpoolctl import ThreadpoolController

    with _controller_lock:
        if _controller is None:
            _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield


def _as_tall(W: np.ndarray) -> np.ndarray:
    return W if W.shape[0] >= W.shape[1] else W.T


def gram_eigenvalues(mats, device: str | None = None) -> np.ndarray:
    """Ascending eigenvalues of W^T W (short side) for each matrix in ``mats``, pooled.

    ``mats``: one 2-D array or a list of same-shape 2-D arrays (conv slices). float64.
    ``device``: None / "cpu" (numpy + LAPACK) or a torch device such as "cuda".
    Cost: per matrix N M^2 flops for the Gram product + one M x M eigvalsh.
    """
    if isinstance(mats, np.ndarray) and mats.ndim == 2:
        mats = [mats]
    stack = np.stack([_as_tall(np.asarray(W, dtype=np.float64)) for W in mats])
    if device not in (None, "cpu"):
        import torch

        T = torch.as_tensor(stack, dtype=torch.float64, device=device)
        ev = torch.linalg.eigvalsh(T.transpose(1, 2) @ T).cpu().numpy()
    else:
        G = np.matmul(stack.transpose(0, 2, 1), stack)
        ev = np.linalg.eigvalsh(G)
    return np.sort(np.clip(ev.ravel(), 0.0, None))


def _batch_bytes(N: int, M: int) -> int:
    """Device bytes one N x M (N >= M) matrix takes in a batch: its float64 copy, the
    M x M Gram matrix and eigvalsh's copy/workspace of it."""
    return 8 * (N * M + 3 * M * M)


def batched_gram_eigenvalues(layers_mats, device, max_bytes: int = DEFAULT_BATCH_BYTES
                             ) -> list[np.ndarray]:
    """Ascending pooled eigenvalues of W^T W for each layer of ``layers_mats`` (a list of
    layers, each a list of matrices), computed on a torch ``device`` in float64.

    Equal-shaped matrices (across layers) are stacked and go through one batched Gram
    product (``bmm``) and one batched ``eigvalsh``; batches are cut so that each takes at
    most ``max_bytes`` of device memory (a single matrix larger than that runs alone), so
    memory stays bounded however many layers there are. Inputs may be numpy arrays or torch
    tensors on any device (a tensor already on ``device`` is not copied before the float64
    cast). The host receives only the eigenvalues. Cost per matrix: N M^2 + O(M^3) flops.
    """
    import torch

    dev = torch.device(device)
    items = []          # (shape, layer index, matrix index, matrix)
    for li, mats in enumerate(layers_mats):
        for mi, W in enumerate(mats):
            W = _as_tall(W)
            items.append((tuple(W.shape), li, mi, W))
    out: list[list] = [[None] * len(m) for m in layers_mats]
    by_shape: dict[tuple, list] = {}
    for it in items:
        by_shape.setdefault(it[0], []).append(it)
    for (N, M), group in by_shape.items():
        per = max(1, int(max_bytes // _batch_bytes(N, M)))
        for lo in range(0, len(group), per):
            chunk = group[lo:lo + per]
            T = torch.stack([torch.as_tensor(W).to(dev, torch.float64) for *_, W in chunk])
            G = T.transpose(1, 2) @ T
            del T
            ev = torch.linalg.eigvalsh(G).cpu().numpy()
            del G
            for (_, li, mi, _), e in zip(chunk, ev, strict=True):
                out[li][mi] = e
    return [np.sort(np.clip(np.concatenate(parts), 0.0, None)) for parts in out]


def _windows(n: int, size: int, stride: int) -> list[int]:
    if size >= n:
        return [0]
    starts = list(range(0, n - size + 1, max(1, stride)))
    if starts[-1] != n - size:
        starts.append(n - size)
    return starts


def farms_eigenvalues(mats, size: int = 128, q: float = 1.0, overlap: float = 0.5,
                      max_blocks: int = 32, seed: int = 0) -> tuple[np.ndarray, int]:
    """FARMS (Hu et al., ICML 2025): pooled ESD of fixed-aspect-ratio submatrices.

    Each (tall) matrix is cut into overlapping windows of ``round(q * m) x m`` with
    m = min(size, M) (q = rows / columns, 1 by default), sliding by ``(1 - overlap)`` of the
    window along both axes; if there are more than ``max_blocks`` windows, a seeded random
    subset is used. Returns ``(eigenvalues of all windows pooled, ascending; number of
    windows)``. Cost: blocks x (q m^3 + m^3) flops.
    """
    if isinstance(mats, np.ndarray) and mats.ndim == 2:
        mats = [mats]
    rng = np.random.default_rng(seed)
    blocks = []
    for W in mats:
        W = _as_tall(np.asarray(W, dtype=np.float64))
        N, M = W.shape
        m = min(int(size), M)
        n = int(round(q * m))
        if n > N:  # too short for the requested aspect ratio: shrink the window
            m = max(1, int(N / q))
            n = min(N, int(round(q * m)))
        rows = _windows(N, n, int(n * (1 - overlap)))
        cols = _windows(M, m, int(m * (1 - overlap)))
        blocks.extend((W, r, c, n, m) for r in rows for c in cols)
    if len(blocks) > max_blocks:
        pick = rng.choice(len(blocks), size=max_blocks, replace=False)
        blocks = [blocks[i] for i in np.sort(pick)]
    subs = np.stack([W[r:r + n, c:c + m] for (W, r, c, n, m) in blocks])
    G = np.matmul(subs.transpose(0, 2, 1), subs) if subs.shape[1] >= subs.shape[2] else \
        np.matmul(subs, subs.transpose(0, 2, 1))
    ev = np.linalg.eigvalsh(G)
    return np.sort(np.clip(ev.ravel(), 0.0, None)), len(blocks)


def shuffled_eigenvalues(mats, seed: int = 0) -> np.ndarray:
    """ESD of the matrices with their entries randomly permuted (the randomized baseline:
    same entry distribution, correlations destroyed). Cost: as :func:`gram_eigenvalues`."""
    if isinstance(mats, np.ndarray) and mats.ndim == 2:
        mats = [mats]
    rng = np.random.default_rng(seed)
    shuffled = []
    for W in mats:
        W = np.asarray(W, dtype=np.float64)
        shuffled.append(rng.permutation(W.ravel()).reshape(W.shape))
    return gram_eigenvalues(shuffled)


@dataclass(frozen=True)
class LayerSpectrum:
    """Cached eigenvalues of one layer (everything a re-fit needs, no weights kept).

    evals: full ESD (ascending); farms_evals / rand_evals when requested (else None).
    """

    layer_id: int
    name: str
    kind: str
    N: int
    M: int
    rf: int
    evals: np.ndarray = field(repr=False)
    farms_evals: np.ndarray | None = field(default=None, repr=False)
    farms_blocks: int = 0
    rand_evals: np.ndarray | None = field(default=None, repr=False)
    longname: str = ""
    layout: str = ""
    seconds: float = 0.0

    @property
    def Q(self) -> float:
        return self.N / self.M


def _host_mats(mats):
    out = []
    for W in mats:
        if hasattr(W, "detach"):
            W = W.detach().float().cpu().numpy() if W.dtype.is_floating_point else W
        out.append(np.asarray(W))
    return out


def layer_spectrum(layer, *, farms: bool = False, randomize: bool = False, seed: int = 0,
                   device: str | None = None, farms_size: int = 128, farms_q: float = 1.0,
                   farms_max_blocks: int = 32, evals: np.ndarray | None = None
                   ) -> LayerSpectrum:
    """Eigenvalues of one :class:`~workbench.eigenspectra.layers.LayerMatrices`
    (``evals``: already computed, e.g. by :func:`batched_gram_eigenvalues`). FARMS and the
    shuffled baseline run on the host (a host copy of torch weights when asked for)."""
    t0 = time.perf_counter()
    if evals is None:
        evals = gram_eigenvalues(_host_mats(layer.mats), device=device)
    fe, nb = (None, 0)
    if farms:
        fe, nb = farms_eigenvalues(_host_mats(layer.mats), size=farms_size, q=farms_q,
                                   max_blocks=farms_max_blocks, seed=seed)
    re_ = shuffled_eigenvalues(_host_mats(layer.mats), seed=seed) if randomize else None
    return LayerSpectrum(layer_id=layer.layer_id, name=layer.name, kind=layer.kind, N=layer.N,
                         M=layer.M, rf=layer.rf, evals=evals, farms_evals=fe, farms_blocks=nb,
                         rand_evals=re_, longname=layer.longname, layout=layer.layout,
                         seconds=time.perf_counter() - t0)
