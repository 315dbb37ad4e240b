"""The Hessian topic run on a model of your own: its curvature spectrum and its layers'.

    run = run_model_hessian(model, loss_fn, (X, y))     # costly: products of the Hessian
    view = run.at(broadening=1.5)                       # free: re-broadened stored nodes
    view.grid, view.density, view.top_values, view.trace, view.layers, view.layer_curves

What ``HessianExplorer.from_model`` shows. Nothing is trained: the model is taken as it
is (its weights, its loss on `data`). `progress(fraction)` is called between stages and
between layers; a progress callback that raises (the explorer's Cancel button raises
``workbench.errors.Cancelled``) stops the run there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from workbench.errors import InputFormatError
from workbench.hessian.spectrum import CurvatureSpectrum, SpectrumView, shared_curves


@dataclass(frozen=True)
class ModelView(SpectrumView):
    """The whole model's spectrum (the SpectrumView fields), its number of parameters,
    products spent, and per layer (`layers`: block, num_params, top_eigenvalue, trace,
    trace_std) its density on one common grid (`layer_curves`: {block: (grid, density)};
    a layer the loss does not reach has none)."""

    num_params: int
    num_matvecs: int
    layers: pd.DataFrame
    layer_curves: dict


@dataclass(frozen=True)
class ModelHessianRun:
    """The Hessian spectrum of a user's model (`spectrum`, a CurvatureSpectrum) and of
    each of its layers (`blocks`, ``block_spectra``'s table), with the model's loss on
    the data (`loss`). ``at(broadening)`` views it without products."""

    spectrum: CurvatureSpectrum
    blocks: pd.DataFrame
    loss: float
    label: str = "your model"

    def at(self, broadening: float = 1.0) -> ModelView:
        """The view at `broadening`: O(grid x nodes) per density (~1 ms), no products."""
        spec = self.spectrum
        curves = shared_curves({r.block: r.density for r in self.blocks.itertuples()
                                if r.density is not None}, broadening)
        table = self.blocks[["block", "num_params", "top_eigenvalue", "trace",
                             "trace_std"]].copy()
        return ModelView(**SpectrumView.fields_of(spec, broadening),
                         num_params=int(spec.num_params),
                         num_matvecs=int(spec.num_matvecs + self.blocks["num_matvecs"].sum()),
                         layers=table, layer_curves=curves)

    def export(self, broadening: float = 1.0) -> pd.DataFrame:
        """The density behind the view at `broadening` (columns eigenvalue, density)."""
        view = self.at(broadening)
        return pd.DataFrame({"eigenvalue": view.grid, "density": view.density})


def _sub(progress, a: float, b: float):
    return (lambda f: progress(a + (b - a) * f)) if progress else None


def run_model_hessian(model, loss_fn, data, *, k: int = 10, num_probes: int = 6,
                      num_steps: int = 40, trace_matvecs: int = 60, layers: bool = True,
                      layer_probes: int = 3, layer_steps: int = 24, seed: int = 0,
                      device=None, label: str = "your model",
                      progress: Callable[[float], None] | None = None,
                      **operator_kwargs) -> ModelHessianRun:
    """The Hessian of `loss_fn(model(X), y)` averaged over `data` ((X, y) tensors, a list
    of batches or a DataLoader; ``hessian_operator``'s rules): top-`k` eigenvalues, the
    most negative one, trace (XTrace) and SLQ density, then (``layers``) the same for
    each layer's diagonal block (``block_spectra``, "auto" blocks). `device`: where the
    products run (default: the model's). Returns a ModelHessianRun. Costs ~k + 30 +
    trace_matvecs + num_probes x num_steps HVPs, plus per layer ~10-30 +
    layer_probes x layer_steps + 20. Raises InputFormatError (not a torch module, no
    trainable parameters, a loss that fails on the data) naming the problem."""
    import torch

    from workbench.hessian.blocks import block_spectra
    from workbench.hessian.operators import hessian_operator
    from workbench.hessian.spectrum import curvature_spectrum

    if not isinstance(model, torch.nn.Module):
        raise InputFormatError(f"{label} must be a torch.nn.Module, got "
                               f"{type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise InputFormatError(f"{label} has no trainable parameters")
    if device is not None:
        operator_kwargs["device"] = device
    op = hessian_operator(model, loss_fn, data, **operator_kwargs)
    loss = _loss_value(model, loss_fn, op)
    spec = curvature_spectrum(op, k=k, num_probes=num_probes, num_steps=num_steps,
                              trace_matvecs=trace_matvecs, seed=seed,
                              progress=_sub(progress, 0.0, 0.6 if layers else 1.0))
    if layers:
        blocks = block_spectra(model, loss_fn, data, k=1, num_probes=layer_probes,
                               num_steps=layer_steps, trace_matvecs=20, seed=seed,
                               progress=_sub(progress, 0.6, 1.0), **operator_kwargs)
    else:
        blocks = pd.DataFrame(columns=["block", "num_params", "top_eigenvalue", "trace",
                                       "trace_std", "density", "num_matvecs"])
    return ModelHessianRun(spec, blocks, loss, label)


def _loss_value(model, loss_fn, op) -> float:
    """The mean loss over the operator's stored batches (one forward pass each)."""
    import torch

    batches = op.batches
    if not batches:
        return float("nan")
    total, count = 0.0, 0
    with torch.no_grad():
        for X, y in batches:
            n = len(X)
            try:
                total += float(loss_fn(model(X), y)) * n
            except Exception as exc:  # noqa: BLE001 - the user's loss: name the problem
                raise InputFormatError(f"the loss failed on the data: {type(exc).__name__}: "
                                       f"{exc}") from None
            count += n
    return total / max(count, 1)
