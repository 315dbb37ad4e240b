"""The Hessian topic run: train once, compute the curvature spectra once, then view them
at any checkpoint and broadening without new products. What the "Hessian spectra"
dashboard and the notebook show.

    run = run_hessian(HessianSettings(width=16, steps=60))     # train + every spectrum
    view = run.at(checkpoint=2, broadening=1.5)   # no products: re-broadened stored nodes
    view.grid, view.density, view.top_values, view.summary, view.compare

A run is built in three stages, each a new frozen ``HessianRun`` (the dashboard shows the
first at once and the others as they come): ``run_hessian(..., checkpoints=False,
compare=False)`` trains and computes the final Hessian spectrum, ``.with_checkpoints()``
adds the Hessian spectrum at every earlier snapshot, ``.with_compare()`` the Gauss-Newton
and Fisher spectra at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import InputFormatError, RankError
from workbench.hessian.experiments import (
    ExperimentResult,
    checkpoint_spectra,
    outlier_summary,
    run_experiment,
    sharpness_summary,
)
from workbench.hessian.settings import FIXED_CLASSES, HessianSettings
from workbench.hessian.spectrum import (
    CurvatureSpectrum,
    SpectrumView,
    compare_curvatures,
    shared_curves,
)


@dataclass(frozen=True)
class CompareView:
    """Hessian, GGN and Fisher at the last checkpoint, broadened alike: curves {kind:
    (grid, density)} on one grid with one width, and per kind its top eigenvalues, most
    negative eigenvalue, trace and trace standard error."""

    broadening: float
    curves: dict
    top_values: dict
    min_value: dict
    trace: dict
    trace_std: dict

    def table(self, num: int = 8) -> pd.DataFrame:
        """Long table (index λi, kind, eigenvalue) of the first `num` top eigenvalues."""
        return pd.DataFrame([{"index": f"λ{i + 1}", "kind": kind, "eigenvalue": float(v)}
                             for kind, vals in self.top_values.items()
                             for i, v in enumerate(vals[:num])])


@dataclass(frozen=True)
class HessianView(SpectrumView):
    """The Hessian spectrum at one checkpoint (index `checkpoint`, training step `step`):
    the SpectrumView fields and the numbers the page prints besides: loss and accuracy
    (full data, at `step`), near_zero_mass (share of the spectrum within 5% of λ1 of
    zero), num_matvecs (HVPs of training + every spectrum computed so far), and compare
    (a CompareView, None until the GGN and Fisher are computed or when not asked for)."""

    checkpoint: int
    step: int
    loss: float
    accuracy: float
    near_zero_mass: float
    num_classes: int
    num_matvecs: int
    checkpoints_ready: bool
    compare: CompareView | None


@dataclass(frozen=True)
class HessianRun:
    """One experiment (``experiment``: data, training run, final spectrum), the Hessian
    spectra at the checkpoints (None until ``with_checkpoints``) and the GGN / Fisher
    spectra at the end (None until ``with_compare``). ``at(...)`` views it for free."""

    experiment: ExperimentResult
    checkpoints: tuple[CurvatureSpectrum, ...] | None = None
    compare: dict | None = None

    # ------------------------------------------------------------------ costly stages
    def with_checkpoints(self, progress: Callable[[float], None] | None = None
                         ) -> HessianRun:
        """This run with the Hessian spectrum at every snapshot. Costs one
        ``curvature_spectrum`` per earlier snapshot."""
        if self.checkpoints is not None:
            return self
        return dataclasses.replace(
            self, checkpoints=checkpoint_spectra(self.experiment, progress=progress))

    def with_compare(self, progress: Callable[[float], None] | None = None) -> HessianRun:
        """This run with the GGN and empirical Fisher spectra at the trained weights
        (same estimator settings and seed as the Hessian's). Costs two
        ``curvature_spectrum``."""
        if self.compare is not None:
            return self
        res = self.experiment
        est = {k: v for k, v in res.settings.items() if k != "kinds"}
        out = compare_curvatures(res.training.model, _loss(res), res.dataset.pair(),
                                 kinds=("ggn", "fisher"), seed=res.config.seed,
                                 progress=progress, **est)
        return dataclasses.replace(self, compare={"hessian": res.spectra["hessian"], **out})

    # ------------------------------------------------------------------ cheap views
    @property
    def training(self):
        """The TrainResult (loss curve, snapshots, tracked sharpness)."""
        return self.experiment.training

    def spectra(self) -> list[CurvatureSpectrum]:
        """The Hessian spectra available: one per checkpoint once computed, else the
        final one only."""
        return list(self.checkpoints or (self.experiment.spectra["hessian"],))

    def steps(self) -> list[int]:
        """Training steps of the spectra available."""
        return [s.step for s in self.spectra()]

    def spectrum(self, checkpoint: int | None = None) -> CurvatureSpectrum:
        """The spectrum at checkpoint index `checkpoint` (None or out of range: the last;
        the final one while the earlier checkpoints are being computed)."""
        sp = self.spectra()
        if self.checkpoints is None or checkpoint is None:
            return sp[-1]
        if checkpoint < 0:
            raise RankError(f"checkpoint must be >= 0, got {checkpoint}")
        return sp[min(int(checkpoint), len(sp) - 1)]

    def at(self, checkpoint: int | None = None, broadening: float = 1.0,
           compare: bool = True) -> HessianView:
        """The view at checkpoint index `checkpoint` (0 = initialization; None: the last)
        with the density broadened `broadening` x the estimator's width (and, with
        `compare`, the GGN / Fisher comparison alike). No products: O(grid x nodes) per
        density (a Gaussian sum over the stored SLQ nodes), ~1 ms."""
        res = self.experiment
        spec = self.spectrum(checkpoint)
        snap = next(s for s in res.training.snapshots if s.step == spec.step)
        out = outlier_summary(spec)
        cps = self.spectra()
        return HessianView(
            **SpectrumView.fields_of(spec, broadening),
            checkpoint=next(i for i, c in enumerate(cps) if c is spec), step=int(spec.step),
            loss=float(snap.loss), accuracy=float(snap.accuracy),
            near_zero_mass=float(out["near_zero_mass"]),
            num_classes=FIXED_CLASSES.get(res.config.dataset, res.config.num_classes),
            num_matvecs=int(sum(c.num_matvecs for c in cps) + res.training.num_hvps),
            checkpoints_ready=self.checkpoints is not None,
            compare=self.compare_at(broadening) if compare else None)

    def compare_at(self, broadening: float = 1.0) -> CompareView | None:
        """Hessian, GGN and Fisher broadened alike (one width: the largest of the three
        estimates', one grid over all their nodes), None before ``with_compare``."""
        if not self.compare:
            return None
        spectra = self.compare
        curves = shared_curves({kind: sp.density for kind, sp in spectra.items()}, broadening)
        return CompareView(float(broadening), curves,
                           {k: np.asarray(s.top_values) for k, s in spectra.items()},
                           {k: float(s.min_value) for k, s in spectra.items()},
                           {k: float(s.trace) for k, s in spectra.items()},
                           {k: float(s.trace_std) for k, s in spectra.items()})

    def sharpness(self) -> dict | None:
        """``sharpness_summary`` of the training run against 2/lr (None if untracked)."""
        tr = self.experiment.training
        if not tr.sharpness.size:
            return None
        return sharpness_summary(tr, self.experiment.config.lr)

    def over_training(self) -> tuple[list[int], np.ndarray]:
        """(steps, top values) of the spectra available: one row per checkpoint, the
        first min-k eigenvalues of each."""
        cps = self.spectra()
        kmin = min(len(c.top_values) for c in cps)
        return [c.step for c in cps], np.array([c.top_values[:kmin] for c in cps])

    def export(self, checkpoint: int | None = None, broadening: float = 1.0) -> pd.DataFrame:
        """Long table (series, step, x, y) behind a view: the density and top eigenvalues
        at the checkpoint, and the tracked sharpness."""
        view = self.at(checkpoint, broadening)
        tr = self.experiment.training
        parts = [pd.DataFrame({"series": "density", "step": view.step, "x": view.grid,
                               "y": view.density}),
                 pd.DataFrame({"series": "top eigenvalue", "step": view.step,
                               "x": np.arange(1, len(view.top_values) + 1),
                               "y": view.top_values}),
                 pd.DataFrame({"series": "sharpness", "step": tr.sharpness_steps,
                               "x": tr.sharpness_steps, "y": tr.sharpness})]
        return pd.concat(parts, ignore_index=True)


def _loss(res: ExperimentResult):
    from workbench.hessian.models import make_loss

    return make_loss(res.config.loss)


def check_settings(settings: HessianSettings) -> None:
    """Raise InputFormatError for settings that cannot run together (before training)."""
    if settings.model == "cnn" and settings.dataset != "digits":
        raise InputFormatError("the CNN is made for the 8x8 digits: choose the digits "
                               "data set or the MLP")
    if settings.trace_matvecs < 4:
        raise RankError(f"the spectrum's trace needs at least 4 products, got "
                        f"trace_matvecs={settings.trace_matvecs}")


def run_hessian(settings: HessianSettings | None = None, *, checkpoints: bool = True,
                compare: bool = True, progress: Callable[[float], None] | None = None,
                **fields) -> HessianRun:
    """Train per `settings` (a HessianSettings; keywords override its fields) and compute
    the final Hessian spectrum, then (``checkpoints``) the Hessian spectrum at every
    snapshot and (``compare``) the GGN and Fisher spectra at the end. Returns a
    HessianRun. Costs ``steps`` gradient steps (+ sharpness HVPs) and one
    ``curvature_spectrum`` per spectrum (a few hundred HVPs each with the defaults)."""
    s = HessianSettings(**{**(settings.param.values() if settings else {}), **fields})
    check_settings(s)
    run = HessianRun(run_experiment(s.config(), kinds=("hessian",), progress=progress,
                                    **s.estimator()))
    if checkpoints:
        run = run.with_checkpoints()
    if compare:
        run = run.with_compare()
    return run
