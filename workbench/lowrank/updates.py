"""What fine-tuning changes: the spectra of weight updates between two checkpoints and of
LoRA adapters, per layer.

    deltas = weight_updates("base.safetensors", "finetuned.safetensors")  # {name: dW}
    deltas = lora_deltas("adapter_model.safetensors", alpha=16)          # {name: B A s}
    table, spectra = update_spectra(deltas, energy=0.9)
    table[["layer", "rank_for_energy", "stable_rank", "effective_rank"]]
    spectra["q_proj"].error_curve      # ||dW - [dW]_r||_F / ||dW||_F, r = 0..k

For each update dW: its singular values; the energy kept by rank r (sum_{i<=r} s_i^2 /
sum s_i^2); the rank a LoRA adapter would need to keep `energy` of it; the stable rank
||dW||_F^2 / ||dW||_2^2 and the effective rank exp(entropy of s^2 / sum s^2); the rank-r
error curve of the Eckart-Young optimum (the best any rank-r adapter can do).

A LoRA pair (A r x n, B m x r, PEFT's "lora_A" / "lora_B") is never multiplied out: the
singular values of B A come from the r x r core R_B R_A^T of two thin QRs, O((m + n) r^2).
Full updates cost one SVD each (O(m n min(m, n))).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import InputFormatError, ShapeError

__all__ = ["UpdateSpectrum", "lora_deltas", "update_spectra", "weight_updates"]


def _arrays(obj, what: str) -> dict[str, np.ndarray]:
    """{name: float64 array} from a path, bytes, a state dict or an nn.Module."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if hasattr(v, "detach"):
                v = v.detach().cpu().float().numpy() if v.is_floating_point() else None
            if v is not None:
                out[k] = np.asarray(v)
        return out
    from workbench.io import load_matrices

    try:
        return load_matrices(obj)
    except InputFormatError as exc:
        raise InputFormatError(f"{what}: {exc}") from None


def weight_updates(before, after, min_side: int = 2) -> dict[str, np.ndarray]:
    """dW = after - before for every 2-D (or conv, flattened to out x rest) weight that
    both checkpoints hold with the same shape. `before` / `after`: paths (.safetensors,
    .npz, .npy), state dicts or modules. Raises ShapeError when no weight matches."""
    b, a = _arrays(before, "the first checkpoint"), _arrays(after, "the second checkpoint")
    out, mismatched = {}, []
    for name, w1 in a.items():
        w0 = b.get(name)
        if w0 is None or w1.ndim < 2:
            continue
        if w0.shape != w1.shape:
            mismatched.append(f"{name} {w0.shape} -> {w1.shape}")
            continue
        d = (w1.astype(np.float64) - w0.astype(np.float64)).reshape(w1.shape[0], -1)
        if min(d.shape) >= min_side:
            out[name] = d
    if not out:
        extra = f" (shapes differ: {', '.join(mismatched[:3])})" if mismatched else ""
        raise ShapeError("the two checkpoints share no weight matrix of the same shape"
                         + extra)
    return out


_LORA = re.compile(r"^(?P<base>.+?)\.lora_(?P<which>[AB])(?:\.(?P<adapter>[^.]+))?\.weight$")


@dataclass(frozen=True)
class _LoRAPair:
    A: np.ndarray
    B: np.ndarray
    scale: float


def lora_deltas(adapter, alpha: float | None = None) -> dict[str, _LoRAPair]:
    """The LoRA pairs of an adapter (a safetensors / npz path or a state dict with PEFT's
    names ``<layer>.lora_A.weight`` (r x n) and ``<layer>.lora_B.weight`` (m x r)), each
    meaning dW = (alpha / r) B A (scale 1 when `alpha` is None). Returned unmultiplied;
    ``update_spectra`` takes them as they are. Raises InputFormatError for a file with no
    LoRA pair and ShapeError for factors that do not chain."""
    arrays = _arrays(adapter, "the adapter")
    parts: dict[str, dict] = {}
    for name, arr in arrays.items():
        m = _LORA.match(name)
        if m:
            parts.setdefault(m["base"], {})[m["which"]] = np.asarray(arr, dtype=np.float64)
    pairs = {}
    for base, p in parts.items():
        if set(p) != {"A", "B"}:
            continue
        A, B = p["A"], p["B"]
        if A.ndim != 2 or B.ndim != 2 or B.shape[1] != A.shape[0]:
            raise ShapeError(f"LoRA factors of {base!r} do not chain: B {B.shape}, A {A.shape}"
                             " (need B m x r and A r x n)")
        r = A.shape[0]
        pairs[base] = _LoRAPair(A, B, 1.0 if alpha is None else float(alpha) / r)
    if not pairs:
        raise InputFormatError("no LoRA pair found: expected names like "
                               "'<layer>.lora_A.weight' and '<layer>.lora_B.weight'")
    return pairs


@dataclass(frozen=True)
class UpdateSpectrum:
    """Singular values of one update and what follows from them (module docstring)."""

    name: str
    shape: tuple[int, int]
    singular_values: np.ndarray = field(repr=False)
    lora_rank: int | None = None

    @property
    def energy(self) -> np.ndarray:
        """Fraction of ||dW||_F^2 kept by rank r = 1..len(s)."""
        s2 = self.singular_values**2
        total = s2.sum()
        return np.cumsum(s2) / total if total > 0 else np.ones_like(s2)

    @property
    def error_curve(self) -> np.ndarray:
        """||dW - [dW]_r||_F / ||dW||_F for r = 0..len(s): the Eckart-Young optimum."""
        s2 = self.singular_values**2
        tail = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])  # no 1 - energy cancellation
        return np.sqrt(tail / tail[0]) if tail[0] > 0 else np.zeros_like(tail)

    def rank_for(self, energy: float) -> int:
        """Smallest rank keeping at least `energy` of the update's squared norm."""
        return int(min(np.searchsorted(self.energy, float(energy) - 1e-12) + 1,
                       len(self.singular_values)))

    @property
    def stable_rank(self) -> float:
        s = self.singular_values
        return float((s**2).sum() / s[0] ** 2) if s.size and s[0] > 0 else 0.0

    @property
    def effective_rank(self) -> float:
        s2 = self.singular_values**2
        p = s2[s2 > 0] / s2.sum() if s2.sum() > 0 else np.ones(1)
        return float(np.exp(-(p * np.log(p)).sum()))


def _lora_singular_values(pair: _LoRAPair) -> np.ndarray:
    _, Rb = np.linalg.qr(pair.B)
    _, Ra = np.linalg.qr(pair.A.T)
    return pair.scale * np.linalg.svd(Rb @ Ra.T, compute_uv=False)


def update_spectra(deltas: dict, energy: float = 0.9):
    """Per update (dense dW or a LoRA pair from ``lora_deltas``): an UpdateSpectrum, and a
    pandas table, one row a layer: shape, norm, top singular value, rank for `energy`,
    stable and effective rank (and the LoRA rank for adapters). Returns (table, spectra)."""
    import pandas as pd

    if not 0 < energy <= 1:
        raise InputFormatError(f"energy must be in (0, 1], got {energy}")
    spectra, rows = {}, []
    for name, d in deltas.items():
        if isinstance(d, _LoRAPair):
            s, shape, r = _lora_singular_values(d), (d.B.shape[0], d.A.shape[1]), d.A.shape[0]
        else:
            d = np.asarray(d, dtype=np.float64)
            if d.ndim != 2:
                raise ShapeError(f"update {name!r} must be a matrix, got shape {d.shape}")
            if not np.isfinite(d).all():
                raise InputFormatError(f"update {name!r} holds NaN or inf values")
            s, shape, r = np.linalg.svd(d, compute_uv=False), d.shape, None
        spec = UpdateSpectrum(name, tuple(shape), s, r)
        spectra[name] = spec
        rows.append({"layer": name, "shape": f"{shape[0]} x {shape[1]}",
                     "frobenius_norm": float(np.sqrt((s**2).sum())),
                     "top_singular_value": float(s[0]) if s.size else 0.0,
                     "rank_for_energy": spec.rank_for(energy), "energy": energy,
                     "stable_rank": spec.stable_rank, "effective_rank": spec.effective_rank,
                     "lora_rank": r})
    return pd.DataFrame(rows), spectra
