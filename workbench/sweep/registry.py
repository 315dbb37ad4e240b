"""Named experiments, resolved lazily by import path.

An experiment is any function ``fn(**params) -> dict`` of scalars (or small 1-d arrays).
Topic experiments are registered by *name* and *import path* ("module:function"), so
``import workbench.sweep`` imports no topic code (no torch model, no clustering kernels): the
module is imported only when a sweep of that experiment runs, on the client (to compute the
code version) and on each worker.

    >>> from workbench.sweep import register, resolve
    >>> register("my.exp", "mypackage.experiments:run", version="2")
    >>> resolve("my.exp").name
    'my.exp'

A plain function works as well (``run_sweep(fn, grid)``); its name is its module + qualified
name. With processes or remote workers the function must be importable there (a module on
the workers' path), or defined in a notebook/script (cloudpickle ships it by value).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import workbench
from workbench.errors import InputFormatError


@dataclass(frozen=True)
class Experiment:
    """A named experiment: ``target`` is "module:function" or the function itself.
    ``version`` is part of every task key: bump it when results would change although the
    function's own source did not (e.g. a changed helper). None: derived from the
    workbench version and the function's source text."""

    name: str
    target: str | Callable = field(repr=False)
    version: str | None = None
    description: str = ""

    def load(self) -> Callable:
        """The function (imports its module on first use)."""
        if callable(self.target):
            return self.target
        return import_target(self.target)

    def code_version(self) -> str:
        """The version string that goes into task keys (see the class docstring)."""
        if self.version is not None:
            return f"{workbench.__version__}:{self.version}"
        fn = self.load()
        try:
            src = inspect.getsource(fn)
        except (OSError, TypeError):  # built-ins, C functions, interactively defined
            src = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
        digest = hashlib.sha256(src.encode()).hexdigest()[:12]
        return f"{workbench.__version__}:src-{digest}"


def import_target(path: str) -> Callable:
    """Import "package.module:function" (or "package.module.function") and return it."""
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    if not mod_name or not attr:
        raise InputFormatError(f"experiment target {path!r} is not of the form 'module:function'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise InputFormatError(f"cannot import module {mod_name!r} for experiment {path!r}: "
                               f"{exc}") from exc
    try:
        fn = getattr(module, attr)
    except AttributeError as exc:
        raise InputFormatError(f"module {mod_name!r} has no function {attr!r}") from exc
    if not callable(fn):
        raise InputFormatError(f"{path!r} is not callable")
    return fn


_REGISTRY: dict[str, Experiment] = {}


def register(name: str, target: str | Callable, *, version: str | None = None,
             description: str = "", replace: bool = False) -> Experiment:
    """Register an experiment under ``name``; returns it. Re-registering a name raises
    unless ``replace=True``."""
    if name in _REGISTRY and not replace:
        raise InputFormatError(f"an experiment named {name!r} is already registered")
    exp = Experiment(name, target, version, description)
    _REGISTRY[name] = exp
    return exp


def experiment(name: str, *, version: str | None = None, description: str = ""):
    """Decorator form of ``register`` for functions in your own code."""

    def deco(fn: Callable) -> Callable:
        register(name, fn, version=version, description=description or (fn.__doc__ or ""),
                 replace=True)
        return fn

    return deco


def resolve(exp: str | Callable | Experiment) -> Experiment:
    """An Experiment from a registered name, a "module:function" path, a function or an
    Experiment. Unknown names raise InputFormatError listing the registered ones."""
    if isinstance(exp, Experiment):
        return exp
    if callable(exp):
        name = f"{getattr(exp, '__module__', '?')}.{getattr(exp, '__qualname__', repr(exp))}"
        return Experiment(name, exp)
    if isinstance(exp, str):
        if exp in _REGISTRY:
            return _REGISTRY[exp]
        if ":" in exp:
            return Experiment(exp, exp)
        raise InputFormatError(f"unknown experiment {exp!r}; registered: {', '.join(names())}")
    raise InputFormatError(f"an experiment is a name, a function or an Experiment, got {exp!r}")


def names() -> list[str]:
    """Registered experiment names, sorted."""
    return sorted(_REGISTRY)


def registered() -> dict[str, Experiment]:
    """A copy of the registry (name -> Experiment)."""
    return dict(_REGISTRY)


# Built-in experiments: import paths only, nothing is imported here.
_BUILTIN = {
    "demo.random_top_eig": ("workbench.sweep.experiments.demo:random_top_eig",
                            "top eigenvalues of a random symmetric matrix (numpy; exact)"),
    "hessian.top_eigs": ("workbench.sweep.experiments.hessian:top_eigs",
                         "train a small MLP, then top Hessian eigenvalues and trace"),
    "clustering.quality": ("workbench.sweep.experiments.clustering:quality",
                           "clustering quality (ARI, NMI) of blobs vs noise level"),
    "eigenspectra.alphas": ("workbench.sweep.experiments.eigenspectra:alphas",
                            "power-law alpha of each layer's weight eigenspectrum"),
}
for _name, (_target, _desc) in _BUILTIN.items():
    register(_name, _target, description=_desc)
