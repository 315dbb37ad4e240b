"""The per-layer topic run: the curvature of each layer / module of a model ("which layers
are sharp"), computed once by ``block_spectra``, then viewed per block and broadening
without new products. What the Hessian explorer's "Per-layer curvature" tab and the
notebook show.

    lrun = layer_spectra(model, loss_fn, (X, y), name="MLP")   # block_spectra once
    lrun.table()                      # one row a block: params, top eigenvalue, trace, ...
    view = lrun.at(block="2", broadening=1.5)   # no products: the block's density
    lrun = minilm_layers(num_pairs=8)  # the pretrained MiniLM on bundled sentence pairs
    lrun = trained_layers(run)         # the network a HessianRun trained

``lrun.plan`` is the memory plan of the largest block's operator (micro-batch, vector
chunk, budget), ``lrun.plan_text()`` says it in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import InputFormatError
from workbench.hessian.blocks import block_spectra
from workbench.hessian.plan import MemoryPlan
from workbench.hessian.spectrum import density_curve

#: estimator settings of the per-block view of the shipped models (MLP, CNN): a few
#: thousand parameters, ~130 products a block, well under a second a block on a CPU
SMALL_ESTIMATOR = dict(k=3, num_probes=4, num_steps=24, trace_matvecs=24, tol=1e-6)
#: the pretrained MiniLM in the dashboard: ~45 products a block, 15 blocks (see docs)
MINILM_ESTIMATOR = dict(k=1, num_probes=2, num_steps=10, trace_matvecs=8, tol=1e-3)
#: sentence pairs of the dashboard's MiniLM preset (2 sentences each)
MINILM_PAIRS = 4
_LAYER = re.compile(r"^(?:.*\.)?(?:layer|layers|h|block|blocks)\.(\d+)\.(attention|mlp)$")
#: the columns of ``LayerRun.table()`` (no arrays: the densities stay in the run)
TABLE_COLUMNS = ("block", "label", "num_params", "top_eigenvalue", "trace", "trace_std",
                 "num_matvecs", "seconds", "note")


@dataclass(frozen=True)
class LayerView:
    """One block of a LayerRun (name `block`, readable `label`): its density re-broadened by `broadening` on `grid`, its
    top eigenvalues (descending), and the run's table (``LayerRun.table()``)."""

    block: str
    label: str
    broadening: float
    grid: np.ndarray
    density: np.ndarray
    top_values: np.ndarray
    trace: float
    num_params: int
    table: pd.DataFrame


@dataclass(frozen=True)
class LayerRun:
    """``block_spectra`` of one model (``spectra``: its DataFrame, densities included),
    the model's `name`, `description`, `num_params`, the Hessian-vector-product method that
    ran (`hvp`), the memory `plan` of the largest block's operator and the total products
    and seconds. ``at(...)`` views it for free."""

    name: str
    description: str
    spectra: pd.DataFrame
    num_params: int
    hvp: str | None
    plan: MemoryPlan | None
    num_matvecs: int
    seconds: float

    def blocks(self) -> list[str]:
        """Block names, in the model's order."""
        return list(self.spectra["block"])

    def table(self) -> pd.DataFrame:
        """One row a block (TABLE_COLUMNS): name, readable label, parameters, top eigenvalue, trace and its
        standard error, products, seconds, note."""
        return self.spectra.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)

    def sharpest(self) -> str:
        """Name of the block with the largest top eigenvalue."""
        return str(self.spectra.loc[self.spectra["top_eigenvalue"].idxmax(), "block"])

    def at(self, block: str | None = None, broadening: float = 1.0) -> LayerView:
        """Block `block` (None: the sharpest) with its density broadened `broadening` x the
        estimator's width. No products: a Gaussian sum over the stored SLQ nodes, ~1 ms.
        A block the loss does not reach has a zero density (a spike at 0)."""
        block = self.sharpest() if block is None else str(block)
        rows = self.spectra[self.spectra["block"] == block]
        if rows.empty:
            raise InputFormatError(f"no block {block!r}; the blocks are {self.blocks()}")
        row = rows.iloc[0]
        if row["density"] is None:
            grid = np.linspace(-1.0, 1.0, 400)
            dens = np.exp(-0.5 * (grid / 0.05) ** 2) / (0.05 * np.sqrt(2 * np.pi))
        else:
            grid, dens = density_curve(row["density"], broadening)
        return LayerView(block, str(row["label"]), float(broadening), grid, dens,
                         np.asarray(row["top_values"], dtype=float), float(row["trace"]),
                         int(row["num_params"]), self.table())

    def plan_text(self) -> str:
        """The memory plan in one line: micro-batch, vector chunk, budget, HVP method."""
        p = self.plan
        if p is None:
            return f"hvp={self.hvp}"
        budget = "no budget" if p.budget is None else f"budget {_bytes(p.budget)}"
        return (f"plan: {p.batch_size} samples x {p.vector_chunk} vectors per product, "
                f"{budget}, est. peak {_bytes(p.estimated_peak)}, hvp={self.hvp}")


def _bytes(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def block_label(model, block: str) -> str:
    """A readable label of a block: "encoder.encoder.layer.3.attention" -> "layer 3
    attention"; a module of `model` with its type, e.g. "0" -> "0 (Linear)"; else the
    name."""
    m = _LAYER.match(block)
    if m:
        return f"layer {m.group(1)} {m.group(2)}"
    try:
        return f"{block} ({type(model.get_submodule(block)).__name__})"
    except (AttributeError, TypeError):
        return block


def layer_spectra(model, loss_fn, data, *, name: str = "model", description: str = "",
                  blocks="auto", progress: Callable[[float], None] | None = None,
                  **kwargs) -> LayerRun:
    """``block_spectra(model, loss_fn, data, blocks, **kwargs)`` as a LayerRun (kwargs:
    the estimator settings and the operator's, e.g. k, num_probes, max_memory, device).
    Costs what block_spectra costs: per block ~k Lanczos products + trace_matvecs +
    num_probes * num_steps, each about one HVP of the whole model."""
    spectra = block_spectra(model, loss_fn, data, blocks=blocks, progress=progress, **kwargs)
    spectra.insert(1, "label", [block_label(model, b) for b in spectra["block"]])
    plans = [p for p in spectra["plan"] if p is not None]
    reached = spectra[spectra["hvp"].notna()]
    biggest = reached["num_params"].idxmax() if not reached.empty else None
    return LayerRun(
        name=name, description=description, spectra=spectra,
        num_params=int(spectra["num_params"].sum()),
        hvp=None if biggest is None else str(spectra.loc[biggest, "hvp"]),
        plan=None if biggest is None or not plans else spectra.loc[biggest, "plan"],
        num_matvecs=int(spectra["num_matvecs"].sum()), seconds=float(spectra["seconds"].sum()))


def trained_layers(run, progress: Callable[[float], None] | None = None,
                   **estimator) -> LayerRun:
    """The per-block Hessian spectra of the network a HessianRun (or ExperimentResult)
    trained, on its data set, with SMALL_ESTIMATOR (keywords override). Costs about
    (k Lanczos + 24 + 4 * 24) products per layer of the (small) model: well under a second
    a layer on a CPU for the shipped MLPs and CNN."""
    from workbench.hessian.models import make_loss

    res = getattr(run, "experiment", run)
    cfg = res.config
    kw = {**SMALL_ESTIMATOR, "seed": cfg.seed, **estimator}
    desc = (f"{cfg.model.upper()} trained for {cfg.steps} steps on {cfg.dataset} "
            f"({res.dataset.num_samples} samples)")
    return layer_spectra(res.training.model, make_loss(cfg.loss), res.dataset.pair(),
                         name=cfg.model.upper(), description=desc, progress=progress, **kw)


def minilm_layers(num_pairs: int = MINILM_PAIRS, progress: Callable[[float], None] | None = None,
                  device=None, **estimator) -> LayerRun:
    """The per-block Hessian spectra of the pretrained MiniLM under the paraphrase head
    (``transformers.minilm_pair_task``) on the first `num_pairs` bundled sentence pairs:
    embeddings, attention and MLP of each of the 6 layers, head, pooler (not reached by
    the loss: zero). MINILM_ESTIMATOR by default (keywords override). Costs loading the
    model (~2 s) and ~45 HVPs of the full 22.7M-parameter model per block (see
    docs/hessian.md for the CPU figures)."""
    from workbench.hessian.transformers import minilm_pair_task

    model, loss_fn, data = minilm_pair_task(num_pairs, device=device)
    kw = {**MINILM_ESTIMATOR, **estimator}
    desc = (f"pretrained MiniLM (all-MiniLM-L6-v2) under a paraphrase head, "
            f"{num_pairs} sentence pairs ({2 * num_pairs} sentences)")
    return layer_spectra(model, loss_fn, data, name="MiniLM", description=desc,
                         progress=progress, **kw)
