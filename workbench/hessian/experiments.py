"""Ready-made experiments: a data set, a model, a training run and the curvature spectra at
the end, from one settings object. The dashboard and the notebook run these.

Two findings from the literature are one call each:

* ``bulk_and_outliers`` (Sagun et al. 2017, "Empirical Analysis of the Hessian of
  Over-Parametrized Neural Networks"): a trained classifier's Hessian is a bulk near zero
  plus a few outliers, about one per class (C - 1 for cross-entropy); widening the network
  grows the bulk, not the number of outliers.
* ``edge_of_stability`` (Cohen et al. 2021, "Gradient Descent on Neural Networks Typically
  Occurs at the Edge of Stability"): with full-batch GD at learning rate eta the sharpness
  (top Hessian eigenvalue) rises until it reaches about 2/eta and then hovers there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from workbench.errors import InputFormatError, RankError
from workbench.hessian.data import Dataset, make_dataset
from workbench.hessian.models import make_loss, mlp, num_parameters, small_cnn
from workbench.hessian.spectrum import (
    KINDS,
    CurvatureSpectrum,
    compare_curvatures,
    spectra_over_training,
)
from workbench.hessian.training import TrainResult, train


def _experiment_config() -> type:
    """ExperimentConfig, generated from the fields of ``ExperimentSettings`` (same names,
    same defaults): the settings are declared once, in ``workbench.hessian.settings``."""
    from workbench.hessian.settings import ExperimentSettings, fields

    specs = [(name, object, field(default=ExperimentSettings.param[name].default))
             for name in fields(ExperimentSettings)]

    def replace(self, **kw):
        return dataclasses.replace(self, **kw)

    cls = dataclasses.make_dataclass(
        "ExperimentConfig", specs, frozen=True, namespace={"replace": replace})
    cls.__module__ = __name__
    cls.__doc__ = ("Everything that defines one experiment (hashable: usable as a cache "
                   "key); the fields and defaults of ``workbench.hessian.settings."
                   "ExperimentSettings`` (see there what each means). ``replace(**kw)`` "
                   "returns a copy with some fields changed.")
    return cls


ExperimentConfig = _experiment_config()


@dataclass(frozen=True)
class ExperimentResult:
    """The data, the training run and the spectra ({kind: CurvatureSpectrum}) at the end."""

    config: ExperimentConfig
    dataset: Dataset
    training: TrainResult
    spectra: dict[str, CurvatureSpectrum]
    num_params: int
    seconds: float
    settings: dict = field(default_factory=dict)
    checkpoints: tuple[CurvatureSpectrum, ...] = ()

    def checkpoint(self, step: int) -> CurvatureSpectrum:
        """The Hessian spectrum at the snapshot of `step` (``checkpoints=True`` runs)."""
        for s in self.checkpoints:
            if s.step == step:
                return s
        raise RankError(f"no spectrum at step {step}; checkpoints at "
                        f"{[s.step for s in self.checkpoints]}")


def build(config: ExperimentConfig) -> tuple[Dataset, torch.nn.Module, torch.nn.Module]:
    """(dataset, untrained model, loss) for `config`, data and model on ``config.device``
    (training, snapshots reloaded for spectra and all operators follow the model there).
    Costs only the data generation."""
    from workbench.backends import torch_device

    dtype = {"float32": torch.float32, "float64": torch.float64}.get(config.dtype)
    if dtype is None:
        raise InputFormatError(f"dtype must be 'float32' or 'float64', got {config.dtype!r}")
    images = config.model == "cnn"
    if images and config.dataset != "digits":
        raise InputFormatError("the CNN is made for the 8x8 digits: choose dataset='digits'")
    if config.model not in ("mlp", "cnn"):
        raise InputFormatError(f"model must be 'mlp' or 'cnn', got {config.model!r}")
    data_seed = config.seed if config.data_seed is None else config.data_seed
    if config.dataset == "gaussian_mixture":
        ds = make_dataset("gaussian_mixture", num_samples=config.num_samples,
                          num_classes=config.num_classes, dim=config.dim,
                          separation=config.separation, seed=data_seed, dtype=dtype)
    elif config.dataset == "two_moons":
        ds = make_dataset("two_moons", num_samples=config.num_samples, noise=config.noise,
                          seed=data_seed, dtype=dtype)
    else:
        ds = make_dataset("digits", num_samples=min(config.num_samples, 1797), images=images,
                          seed=data_seed, dtype=dtype)
    if images:
        model = small_cnn(ds.num_classes, channels=max(1, config.width // 8),
                          activation=config.activation, seed=config.seed, dtype=dtype)
    else:
        model = mlp(ds.num_features, ds.num_classes, width=config.width, depth=config.depth,
                    activation=config.activation, seed=config.seed, dtype=dtype)
    try:
        dev = torch_device(config.device)
    except RuntimeError as exc:
        raise InputFormatError(f"unknown device {config.device!r}: {exc}") from None
    return ds.to(device=dev), model.to(dev), make_loss(config.loss)


@dataclass(frozen=True)
class TrainedExperiment:
    """The data, the training run (``training.model`` is the trained model) and the loss
    of one ExperimentConfig: what every spectrum of the experiment is computed on."""

    config: ExperimentConfig
    dataset: Dataset
    training: TrainResult
    loss: torch.nn.Module
    num_params: int


def train_experiment(config: ExperimentConfig,
                     progress: Callable[[float], None] | None = None) -> TrainedExperiment:
    """Build the data and model of `config` and train it with ``workbench.hessian.train``
    (the one training loop: the dashboard, the notebook and the sweep experiment use it).
    ``batch_size=None`` trains on the full batch. Costs `steps` gradient steps (+ the
    sharpness HVPs when ``sharpness_every`` > 0)."""
    ds, model, loss = build(config)
    bs = None if config.batch_size is None else min(config.batch_size, ds.num_samples)
    res = train(model, ds, loss_fn=loss, optimizer=config.optimizer, lr=config.lr,
                steps=config.steps, batch_size=bs, sharpness_every=config.sharpness_every,
                seed=config.seed, num_snapshots=config.num_snapshots, progress=progress)
    return TrainedExperiment(config, ds, res, loss, num_parameters(model))


def run_experiment(config: ExperimentConfig, kinds=("hessian",), k: int = 8,
                   num_probes: int = 6, num_steps: int = 40, trace_matvecs: int = 60,
                   checkpoints: bool = False,
                   progress: Callable[[float], None] | None = None) -> ExperimentResult:
    """Train per `config`, then compute the spectra of `kinds` ("hessian", "ggn",
    "fisher") at the trained weights, over the whole training set; with
    ``checkpoints=True`` also the Hessian spectrum at every snapshot (``num_snapshots``).
    Costs `steps` gradient steps (+ the sharpness HVPs) and, per spectrum, the products of
    ``curvature_spectrum`` (about 150-300 HVPs with the defaults)."""
    for kd in kinds:
        if kd not in KINDS:
            raise InputFormatError(f"unknown curvature {kd!r}; choose from {KINDS}")
    t0 = time.perf_counter()

    def sub(a, b):
        return (lambda f: progress(a + (b - a) * f)) if progress else None

    trained = train_experiment(config, progress=sub(0.0, 0.3))
    ds, res, loss = trained.dataset, trained.training, trained.loss
    est = dict(k=k, num_probes=num_probes, num_steps=num_steps,
               trace_matvecs=trace_matvecs, seed=config.seed)
    spectra = compare_curvatures(res.model, loss, ds.pair(), kinds=kinds,
                                 progress=sub(0.3, 0.5 if checkpoints else 1.0), **est)
    spectra = {kd: dataclasses.replace(sp, step=res.final.step) for kd, sp in spectra.items()}
    out = ExperimentResult(config, ds, res, spectra, trained.num_params,
                           time.perf_counter() - t0,
                           dict(kinds=tuple(kinds), k=k, num_probes=num_probes,
                                num_steps=num_steps, trace_matvecs=trace_matvecs))
    if checkpoints:
        out = dataclasses.replace(
            out, checkpoints=checkpoint_spectra(out, progress=sub(0.5, 1.0)),
            seconds=time.perf_counter() - t0)
    return out


def checkpoint_spectra(result: ExperimentResult,
                       progress: Callable[[float], None] | None = None
                       ) -> tuple[CurvatureSpectrum, ...]:
    """The Hessian spectrum at every training snapshot of `result` (same estimator
    settings; the final one is reused from ``result.spectra["hessian"]`` when present).
    Costs one ``curvature_spectrum`` per earlier snapshot."""
    est = {k: v for k, v in result.settings.items() if k != "kinds"}
    res, cfg = result.training, result.config
    loss, data = make_loss(cfg.loss), result.dataset.pair()
    earlier = [s.step for s in res.snapshots[:-1]]
    over = spectra_over_training(res, loss, data, steps=earlier, progress=progress,
                                 seed=cfg.seed, **est) if earlier else []
    final = result.spectra.get("hessian")
    if final is None:
        final = spectra_over_training(res, loss, data, steps=[res.final.step],
                                      seed=cfg.seed, **est)[0]
    return (*over, dataclasses.replace(final, step=res.final.step))


#: the two demos' settings (the dashboard's presets): small enough for a few seconds on a
#: laptop core, large enough that the effect shows (numbers checked in
#: tests/test_hessian_experiments.py)
PRESETS = {
    "bulk_and_outliers": ExperimentConfig(
        dataset="gaussian_mixture", num_samples=512, num_classes=4, dim=10, separation=12.0,
        width=32, depth=2, activation="relu", loss="cross_entropy", optimizer="sgd",
        lr=0.05, batch_size=64, steps=100, sharpness_every=5),
    "edge_of_stability": ExperimentConfig(
        dataset="gaussian_mixture", num_samples=300, num_classes=4, dim=10, separation=3.0,
        width=32, depth=2, activation="tanh", loss="mse", optimizer="gd", lr=0.4,
        batch_size=300, steps=400, sharpness_every=10),
}


def outlier_summary(spec: CurvatureSpectrum) -> dict:
    """Outliers vs bulk of one spectrum: num_outliers, the outlier eigenvalues, bulk_edge
    (the largest eigenvalue not counted as an outlier, NaN if not among the top-k) and
    near_zero_mass (share of the SLQ spectral measure within 5% of the largest eigenvalue
    around 0: how much of the spectrum the bulk at zero holds). No products: reads the
    result."""
    top = np.asarray(spec.top_values)
    n = int(spec.num_outliers)
    edge = float(top[n]) if n < top.size else float("nan")
    nodes, w = spec.density.node_samples()
    scale = max(abs(float(top[0])) if top.size else 0.0, 1e-300)
    near = float(w[np.abs(nodes) <= 0.05 * scale].sum())
    return dict(num_outliers=n, outliers=top[:n].copy(), bulk_edge=edge,
                near_zero_mass=near, top=float(top[0]) if top.size else float("nan"))


def sharpness_summary(training: TrainResult, lr: float | None = None) -> dict:
    """Sharpness against the stability threshold 2/lr of a run with tracked sharpness:
    threshold, initial, max, first_step (first tracked step with sharpness >= 0.9 x
    threshold, -1 if never), mean_after and rel_spread_after (mean and relative standard
    deviation of the sharpness from first_step on: "hovers at 2/eta" means mean_after ~
    threshold). Reads the result; no products."""
    lr = float(lr if lr is not None else training.settings["lr"])
    thr = 2.0 / lr
    s, st = np.asarray(training.sharpness, float), np.asarray(training.sharpness_steps)
    if s.size == 0:
        raise RankError("this run tracked no sharpness: train with sharpness_every > 0")
    hit = np.flatnonzero(s >= 0.9 * thr)
    first = int(st[hit[0]]) if hit.size else -1
    after = s[hit[0]:] if hit.size else s[:0]
    return dict(threshold=thr, initial=float(s[0]), max=float(s.max()), first_step=first,
                mean_after=float(after.mean()) if after.size else float("nan"),
                rel_spread_after=(float(after.std() / after.mean()) if after.size
                                  else float("nan")))


def bulk_and_outliers(num_classes=(2, 4, 8), widths=(32, 128), k: int | None = None,
                      **config) -> list[ExperimentResult]:
    """Sagun et al.: Hessian spectra of MLPs trained on Gaussian mixtures with each number
    of classes and each width (the "bulk_and_outliers" preset otherwise; keywords override
    it). Returns one ExperimentResult per (classes, width); compare
    ``outlier_summary(result.spectra["hessian"])["num_outliers"]`` with the number of
    classes. Costs one run_experiment each (k = 2 x classes + 2 eigenvalues, so the bulk's
    edge is among them)."""
    base = PRESETS["bulk_and_outliers"].replace(**config)
    out = []
    for c in num_classes:
        for w in widths:
            cfg = base.replace(num_classes=c, width=w)
            out.append(run_experiment(cfg, k=k or 2 * c + 2))
    return out


def edge_of_stability(lr: float | None = None, **config) -> ExperimentResult:
    """Cohen et al.: full-batch GD with the square loss (the "edge_of_stability" preset;
    keywords override it), sharpness tracked every ``sharpness_every`` steps. Compare
    ``training.sharpness`` with 2 / lr, e.g. with ``sharpness_summary``. Costs `steps`
    full-batch gradient steps + about 5-20 HVPs per tracked step + one spectrum."""
    cfg = PRESETS["edge_of_stability"].replace(**config)
    if lr is not None:
        cfg = cfg.replace(lr=lr)
    return run_experiment(cfg, k=4)
