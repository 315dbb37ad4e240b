"""The neural-collapse topic run: NC1-NC4 and the within- / between-class covariance
spectra of a classifier's penultimate features at every training checkpoint, computed
once, then viewed per checkpoint for free.

    run = run_collapse("mlp")            # the digits MLP's checkpoints (trained once)
    view = run.at(checkpoint=3)          # free: stored metrics and spectra
    view.metrics.nc1, view.within, view.between, view.over["nc1"]
    run = run_collapse("minilm")         # a classification head on pretrained MiniLM
    run = collapse_over_checkpoints(models, (X, y), steps=[0, 10, 100])   # your own

Sources: "mlp" is the eigenspectra topic's digits MLP 64-256-128-10 (the same
checkpoints as its Training tab, ``sources.mlp_checkpoints``), measured on its training
split; "minilm" trains a small MLP head (1536 -> 64 -> 2) on frozen pretrained MiniLM
sentence-pair features (``[u, v, |u - v|, u * v]`` of the 64 bundled paraphrase pairs,
``workbench.hessian.transformers``): the features are computed once with one encoder
pass, then the head trains in well under a second; loading MiniLM costs a few seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.eigenspectra.collapse import CollapseMetrics, collapse_metrics, penultimate_features
from workbench.errors import InputFormatError, RankError

__all__ = ["CollapseRun", "CollapseView", "SOURCES", "collapse_over_checkpoints",
           "digits_mlp_models", "minilm_head_models", "run_collapse"]

SOURCES = {"mlp": "digits MLP 64-256-128-10 (training split)",
           "minilm": "MiniLM + MLP head on 64 sentence pairs"}
METRICS = ("nc1", "nc2", "nc3", "nc4")


@dataclass(frozen=True)
class CollapseView:
    """One checkpoint (index ``checkpoint``, ``step`` in ``step_name`` units): its
    ``metrics`` (CollapseMetrics), the within- / between-class covariance eigenvalues
    (``within``, ``between``, descending) and ``accuracy``; over the checkpoints
    (``steps``): ``over`` {"nc1".."nc4": values} and ``accuracy_over``."""

    checkpoint: int
    step: int
    step_name: str
    label: str
    metrics: CollapseMetrics = field(repr=False)
    within: np.ndarray = field(repr=False)
    between: np.ndarray = field(repr=False)
    accuracy: float
    steps: np.ndarray = field(repr=False)
    over: dict = field(repr=False)
    accuracy_over: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class CollapseRun:
    """Collapse metrics at every checkpoint (``metrics[c]`` at ``steps[c]``) of one
    classifier, with its training accuracy there. ``at`` views it without new passes."""

    label: str
    steps: tuple
    metrics: tuple = field(repr=False)
    accuracy: tuple
    step_name: str = "step"

    def at(self, checkpoint: int | None = None) -> CollapseView:
        """The :class:`CollapseView` at checkpoint index `checkpoint` (None or beyond the
        last: the last). O(checkpoints) copying, no forward pass."""
        if checkpoint is not None and checkpoint < 0:
            raise RankError(f"checkpoint must be >= 0, got {checkpoint}")
        c = len(self.steps) - 1 if checkpoint is None else min(int(checkpoint),
                                                               len(self.steps) - 1)
        m = self.metrics[c]
        return CollapseView(c, int(self.steps[c]), self.step_name, self.label, m,
                            m.within_eigenvalues, m.between_eigenvalues,
                            float(self.accuracy[c]), np.asarray(self.steps),
                            {k: np.array([getattr(x, k) for x in self.metrics])
                             for k in METRICS}, np.asarray(self.accuracy, dtype=float))

    def table(self) -> pd.DataFrame:
        """One row per checkpoint: step, NC1-NC4, covariance traces, accuracy."""
        return pd.DataFrame([{self.step_name: s, **m.as_dict(), "accuracy": a}
                             for s, m, a in zip(self.steps, self.metrics, self.accuracy,
                                                strict=True)])


def collapse_over_checkpoints(models: Sequence, data, steps=None, layer: Callable | None = None,
                              label: str = "your model", step_name: str = "step"
                              ) -> CollapseRun:
    """NC1-NC4 of each model in `models` (checkpoints of one classifier, torch modules
    ending in an ``nn.Linear``) on `data` ((X, y), integer labels): penultimate features
    = the input of the last linear layer (or of ``layer(model)``), that layer's weight and
    bias the classifier. `steps`: the checkpoints' steps (default 0, 1, ...). Cost: one
    forward pass over X and ``collapse_metrics`` (O(N p + p^3)) per checkpoint."""
    import torch

    X, y = data
    models = list(models)
    if not models:
        raise InputFormatError("no checkpoints given")
    steps = list(range(len(models))) if steps is None else [int(s) for s in steps]
    if len(steps) != len(models):
        raise InputFormatError(f"{len(models)} checkpoints but {len(steps)} steps")
    metrics, acc = [], []
    for model in models:
        feats, lin = penultimate_features(model, X, layer=layer(model) if layer else None)
        metrics.append(collapse_metrics(feats, y, weight=lin.weight, bias=lin.bias))
        with torch.no_grad():
            logits = feats @ lin.weight.T + (lin.bias if lin.bias is not None else 0)
        yt = torch.as_tensor(y, device=logits.device)
        acc.append(float((logits.argmax(1) == yt).double().mean()))
    return CollapseRun(label, tuple(steps), tuple(metrics), tuple(acc), step_name)


def digits_mlp_models(seed: int = 0):
    """(models, epochs, (X, y)): the digits MLP at each checkpoint of
    ``sources.mlp_checkpoints(seed)`` (trained once per process) as torch modules, and
    its training split (the same split it was trained on). Cost: the training on the
    first call (a few seconds), then building the modules."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from workbench.eigenspectra.sources import mlp_checkpoints

    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split((X / 16.0).astype(np.float32), y, test_size=0.25,
                                      random_state=seed)
    cps = mlp_checkpoints(seed)
    models = []
    for cp in cps:
        idx = sorted({int(k.split(".")[0]) for k in cp.weights})
        layers = []
        for j, i in enumerate(idx):
            W = cp.weights[f"{i}.weight"]
            layers += [torch.nn.Linear(W.shape[1], W.shape[0])]
            if j < len(idx) - 1:
                layers += [torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in cp.weights.items()})
        models.append(model.eval())
    return models, [cp.epoch for cp in cps], (torch.from_numpy(Xtr), torch.from_numpy(ytr))


def minilm_pair_features(num_pairs: int | None = None, device=None):
    """(F, y): frozen pretrained MiniLM features [u, v, |u - v|, u * v] (n x 1536, float32)
    of the bundled sentence pairs and their labels. Cost: loading MiniLM (~2-10 s) and
    one encoder pass over 2n sentences."""
    import torch

    from workbench.hessian.transformers import (
        SentencePairClassifier,
        encode_pairs,
        load_minilm,
        sentence_pairs,
    )

    encoder, tok = load_minilm(device=device)
    clf = SentencePairClassifier(encoder, 2).eval()
    X, y = encode_pairs(tok, sentence_pairs(num_pairs), device=device)
    with torch.no_grad():
        u, v = clf.embed(X[:, 0], X[:, 1]), clf.embed(X[:, 2], X[:, 3])
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1), y


def minilm_head_models(num_pairs: int | None = None, hidden: int = 64, steps: int = 400,
                       checkpoints=(0, 10, 25, 50, 100, 200, 400), lr: float = 1e-3,
                       weight_decay: float = 5e-4, seed: int = 0, device=None):
    """(models, steps, (F, y)): a classification head (Linear(1536, hidden) - ReLU -
    Linear(hidden, 2)) trained full-batch with AdamW on frozen MiniLM pair features
    (:func:`minilm_pair_features`), deep copies at the `checkpoints` steps, and the
    features it was trained on. Cost: the features + `steps` head steps (milliseconds
    each)."""
    import torch

    F, y = minilm_pair_features(num_pairs, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = torch.nn.Sequential(torch.nn.Linear(F.shape[1], hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, 2)).to(F.device)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    want = sorted({int(c) for c in checkpoints if 0 <= int(c) <= steps})
    models, kept = [], []
    for step in range(steps + 1):
        if step in want:
            models.append(copy.deepcopy(head).eval())
            kept.append(step)
        if step == steps:
            break
        loss = torch.nn.functional.cross_entropy(head(F), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return models, kept, (F, y)


def run_collapse(source: str = "mlp", seed: int = 0, **kw) -> CollapseRun:
    """The :class:`CollapseRun` of a shipped classifier: "mlp" (the digits MLP's
    checkpoints, by epoch) or "minilm" (a head on frozen MiniLM features, by step;
    keywords go to :func:`minilm_head_models`). Cost: see the sources in the module
    docstring, plus one ``collapse_metrics`` per checkpoint."""
    if source == "mlp":
        models, steps, data = digits_mlp_models(seed)
        return collapse_over_checkpoints(models, data, steps, label=SOURCES["mlp"],
                                         step_name="epoch")
    if source == "minilm":
        models, steps, data = minilm_head_models(seed=seed, **kw)
        return collapse_over_checkpoints(models, data, steps, label=SOURCES["minilm"],
                                         step_name="step")
    raise InputFormatError(f"unknown source {source!r}: choose {' or '.join(SOURCES)}")
