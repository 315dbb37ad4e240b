"""Where the explorer's weights come from: MiniLM, a random init of its shapes, the digits
MLP trained at checkpoints (each loaded once per process) and uploaded files.

    weights_of("minilm")                   # {name: array}, read once per process
    mlp_checkpoints()                      # tuple of Checkpoint, trained once per process
    read_weights_upload(data, "w.npz")     # checked: a message naming what is wrong
    weights_digest(model)                  # a user's own model checked, and its cache key
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache

import numpy as np

from workbench.eigenspectra.settings import MLP_CHECKPOINTS, MLP_EPOCHS
from workbench.errors import InputFormatError, ShapeError
from workbench.io import UPLOAD_MAX_BYTES

__all__ = ["LABELS", "minilm_weights", "random_init", "mlp_checkpoints", "weights_of",
           "read_weights_upload", "weights_digest"]

LABELS = {"minilm": "MiniLM-L6 (all-MiniLM-L6-v2)",
          "random": "MiniLM shapes, random Gaussian init",
          "mlp": "digits MLP 64-256-128-10"}


@lru_cache(maxsize=1)
def minilm_weights() -> dict:
    """MiniLM-L6's named arrays (:func:`workbench.eigenspectra.load_minilm`), read once per
    process (87 MiB). Do not modify the returned arrays."""
    from workbench.eigenspectra.models import load_minilm

    return load_minilm()


@lru_cache(maxsize=2)
def random_init(seed: int = 0) -> dict:
    """A Gaussian 1/sqrt(fan_in) initialization of MiniLM's shapes, drawn once per seed."""
    from workbench.eigenspectra.models import random_like

    return random_like(minilm_weights(), seed=seed)


_train_lock = threading.Lock()


@lru_cache(maxsize=2)
def mlp_checkpoints(seed: int = 0) -> tuple:
    """The digits MLP trained for ``MLP_EPOCHS`` epochs, a Checkpoint at each of
    ``MLP_CHECKPOINTS``; trained once per process and seed (about 1-3 s)."""
    from workbench.eigenspectra.models import train_digits_mlp

    with _train_lock:
        return tuple(train_digits_mlp(epochs=MLP_EPOCHS, checkpoints=MLP_CHECKPOINTS,
                                      seed=seed))


def weights_of(model: str) -> dict:
    """Named arrays of a shipped source: "minilm" or "random" (InputFormatError else; the
    MLP has checkpoints: :func:`mlp_checkpoints`)."""
    if model == "minilm":
        return minilm_weights()
    if model == "random":
        return random_init()
    raise InputFormatError(f"unknown weights {model!r}: choose minilm, random, mlp or "
                           "upload a file")


def read_weights_upload(data, filename: str | None = None, *,
                        max_bytes: int = UPLOAD_MAX_BYTES) -> dict:
    """Named arrays of an uploaded file, checked to hold at least one analyzable matrix.

    :func:`workbench.io.read_upload` refuses pickles, unknown or damaged files, files over
    `max_bytes`, non-numeric arrays and NaN/inf (InputFormatError / NonFiniteError); a
    file without any weight matrix (only 1-D arrays, too small matrices) raises
    ShapeError listing what it holds. Returns ``{name: array}``. Cost: one read of the
    bytes and a reshape per array (no eigenvalues)."""
    from workbench.io import read_upload

    arrays = read_upload(data, filename, max_bytes=max_bytes)
    _layers_of(arrays, filename or "the file")
    return arrays


def uploaded_weights(data: bytes, filename: str) -> tuple[dict, str, str]:
    """An uploaded weights file as the explorer's "upload" model: (its arrays, checked as
    :func:`read_weights_upload` does; the SHA-1 of its bytes, the run's cache key;
    the label "uploaded <filename>"). Cost: one read and one hash of the bytes."""
    arrays = read_weights_upload(data, filename)
    return arrays, hashlib.sha1(data).hexdigest(), f"uploaded {filename}"


def _layers_of(obj, what: str) -> list:
    """The analyzable layers of `obj` (ShapeError naming what it holds when none)."""
    from workbench.eigenspectra.layers import extract_layers

    layers, skipped = extract_layers(obj)
    if not layers:
        why = "; ".join(f"{s['name']} (shape {tuple(s['shape'])}): {s['reason']}"
                        for s in skipped[:4]) or "nothing"
        raise ShapeError(f"{what} holds no weight matrix to analyze: {why}. "
                         "Expected 2-D matrices (e.g. 40 x 30) or conv kernels")
    return layers


def weights_digest(obj, what: str = "the model") -> str:
    """A digest of the weight matrices of `obj` (a torch module, a state dict, a dict of
    arrays, a path, one matrix), the cache key of its run; checks them first: an object
    without any weight matrix raises ShapeError, an unreadable one InputFormatError.
    Cost: one pass over the weights (no eigenvalues)."""
    h = hashlib.sha1()
    for layer in _layers_of(obj, what):
        h.update(f"{layer.name}|{layer.kind}|{layer.N}x{layer.M}x{layer.rf}".encode())
        for W in layer.mats:
            h.update(np.ascontiguousarray(W).tobytes())
    return h.hexdigest()
