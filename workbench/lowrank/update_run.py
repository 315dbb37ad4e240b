"""The topic run behind "Fine-tuning updates": the spectra of the weight updates between
two checkpoints (or of a LoRA adapter's factors), computed once, and cheap views per
layer and rank.

    run = run_updates(UpdateSettings(before=0, after=60))   # the shipped digits MLP
    view = run.at(layer="2.weight", rank=8, energy=0.9)
    view.rank_for_energy, view.energy_at_rank, view.error_at_rank   # floats / ints
    view.error_curve                                             # Eckart-Young, r = 0..k
    run = updates_from_upload(data, "adapter.safetensors", alpha=16)  # a LoRA adapter

The shipped pair is the digits MLP of the eigenspectra topic
(:func:`workbench.eigenspectra.sources.mlp_checkpoints`: 64-256-128-10, trained here once
per process in 1-3 s at epochs ``MLP_CHECKPOINTS``): dW = W(after) - W(before) per layer.
Everything numeric comes from :func:`workbench.lowrank.updates.update_spectra`; ``at`` only
indexes its arrays.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import param

from workbench.errors import InputFormatError, ShapeError
from workbench.io import UPLOAD_MAX_BYTES
from workbench.lowrank.updates import UpdateSpectrum, lora_deltas, update_spectra, weight_updates

__all__ = ["UpdateRun", "UpdateSettings", "UpdateView", "run_updates", "updates_from",
           "updates_from_upload"]

_EPOCHS = (0, 1, 2, 5, 10, 20, 40, 60)   # the eigenspectra topic's MLP_CHECKPOINTS


class UpdateSettings(param.Parameterized):
    """What the "Fine-tuning updates" tab shows: the two checkpoints (costly: one SVD per
    layer), and the view (layer, rank, energy: cheap)."""

    before = param.Selector(default=0, objects=list(_EPOCHS), label="Checkpoint (epoch)",
                            doc="Epoch of the first checkpoint of the digits MLP")
    after = param.Selector(default=60, objects=list(_EPOCHS), label="Fine-tuned to (epoch)",
                           doc="Epoch of the second checkpoint")
    layer = param.String(default="", doc="Layer shown (empty: the first)")
    update_rank = param.Integer(default=4, bounds=(0, 256), label="Adapter rank r",
                                doc="Rank r of the adapter: energy kept, error at r")
    energy = param.Number(default=0.9, bounds=(0.5, 0.999), step=0.005,
                          label="Energy to keep",
                          doc="Energy a LoRA adapter must keep (sum of kept s_i^2)")

    @classmethod
    def copy_of(cls, other) -> UpdateSettings:
        return cls(**{k: getattr(other, k) for k in cls.param if k != "name"})


@dataclass(frozen=True)
class UpdateView:
    """One layer at one rank: plain numbers and arrays for the figures and the table."""

    layer: str
    shape: tuple[int, int]
    rank: int                       # clipped to 0..len(singular_values)
    energy: float                   # the energy target
    singular_values: np.ndarray = field(repr=False)
    energy_curve: np.ndarray = field(repr=False)    # kept by r = 1..k
    error_curve: np.ndarray = field(repr=False)     # ||dW - [dW]_r||_F / ||dW||_F, r = 0..k
    rank_for_energy: int
    energy_at_rank: float
    error_at_rank: float
    lora_rank: int | None
    table: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class UpdateRun:
    """Spectra of every update (``spectra``: {layer: UpdateSpectrum}) and their table (one
    row a layer, at the energy it was made with); ``label`` says what was compared and
    ``key`` identifies it (a cache key)."""

    spectra: dict = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    label: str
    key: tuple
    seconds: float = 0.0

    @property
    def layers(self) -> list[str]:
        return list(self.spectra)

    def layer_table(self, energy: float) -> pd.DataFrame:
        """The per-layer table with ``rank_for_energy`` at `energy` (no new SVD)."""
        t = self.table.copy()
        t["energy"] = float(energy)
        t["rank_for_energy"] = [self.spectra[n].rank_for(energy) for n in t["layer"]]
        return t

    def at(self, layer: str | None = None, rank: int = 1, energy: float = 0.9) -> UpdateView:
        """The view of `layer` (None or "": the first) at `rank` (clipped to the number of
        singular values) and energy target `energy`. Cost: O(k) indexing, no SVD."""
        name = layer or self.layers[0]
        if name not in self.spectra:
            raise InputFormatError(f"no layer {name!r}; the updates have {self.layers}")
        spec: UpdateSpectrum = self.spectra[name]
        s = spec.singular_values
        r = int(np.clip(int(rank), 0, len(s)))
        err = spec.error_curve
        en = spec.energy
        return UpdateView(name, spec.shape, r, float(energy), s, en, err,
                          spec.rank_for(energy), float(en[r - 1]) if r > 0 else 0.0,
                          float(err[r]), spec.lora_rank, self.layer_table(energy))


def updates_from(deltas: dict, label: str = "your updates", key=None,
                 energy: float = 0.9) -> UpdateRun:
    """An UpdateRun of `deltas` ({name: dW} from :func:`weight_updates`, or LoRA pairs from
    :func:`lora_deltas`). Cost: one SVD per dense update, O((m + n) r^2) per LoRA pair."""
    import time

    t0 = time.perf_counter()
    table, spectra = update_spectra(deltas, energy=energy)
    return UpdateRun(spectra, table, label, key if key is not None else ("deltas", label),
                     time.perf_counter() - t0)


def run_updates(settings: UpdateSettings | None = None, seed: int = 0) -> UpdateRun:
    """Spectra of dW = W(after) - W(before) of the shipped digits MLP, per layer. Cost: the
    MLP's training once per process (1-3 s), then three SVDs of at most 256 x 128."""
    from workbench.eigenspectra.sources import mlp_checkpoints

    s = settings or UpdateSettings()
    b, a = int(s.before), int(s.after)
    if b == a:
        raise InputFormatError(f"pick two different checkpoints (both are epoch {b}): "
                               "their update is zero")
    cks = {c.epoch: c for c in mlp_checkpoints(seed)}
    deltas = weight_updates(cks[b].weights, cks[a].weights)
    return updates_from(deltas, f"digits MLP, epoch {b} → {a}", ("mlp", b, a, seed),
                        s.energy)


def updates_from_upload(data, filename: str | None = None, alpha: float | None = None,
                        *, max_bytes: int = UPLOAD_MAX_BYTES) -> UpdateRun:
    """An UpdateRun of the LoRA adapter in an uploaded file (.safetensors / .npz with PEFT's
    names ``<layer>.lora_A.weight`` r x n and ``<layer>.lora_B.weight`` m x r), read through
    :func:`workbench.io.read_upload` (pickles, damaged files, NaN/inf, ... refused there);
    a file without a LoRA pair, or with factors that do not chain, raises InputFormatError /
    ShapeError naming the problem. `alpha`: PEFT's lora_alpha (scale alpha / r; None: 1).
    Cost: one read of the bytes, O((m + n) r^2) per pair."""
    from workbench.io import read_upload

    name = filename or "the uploaded file"
    arrays = read_upload(data, filename, max_bytes=max_bytes, ndim=2)
    try:
        pairs = lora_deltas(arrays, alpha=alpha)
    except (InputFormatError, ShapeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    digest = hashlib.sha1(bytes(data)).hexdigest()[:16]
    return updates_from(pairs, f"LoRA adapter {name}", ("upload", digest, alpha))
