"""Choosing which parameters a curvature operator acts on, and flat <-> per-tensor vectors.

``select_parameters(model, params)`` accepts None (every parameter that requires grad), a
regular expression (``re.search`` on the names, e.g. ``r"^2\\."`` for the third module of a
Sequential) or a list of names / module prefixes (``["0"]`` selects ``0.weight`` and
``0.bias``). The operator's vectors are the selected tensors flattened and concatenated in
``model.named_parameters()`` order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from workbench.errors import InputFormatError


@dataclass(frozen=True)
class ParameterLayout:
    """Names, shapes and offsets of the selected parameters in the flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    numels: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(sum(self.numels))

    def offsets(self) -> list[tuple[str, int, int]]:
        """(name, start, stop) of each tensor in the flat vector."""
        out, start = [], 0
        for name, k in zip(self.names, self.numels):
            out.append((name, start, start + k))
            start += k
        return out

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat vector (P,) -> {name: tensor of the parameter's shape} (views)."""
        parts = torch.split(flat, list(self.numels))
        return {n: p.reshape(s) for n, p, s in zip(self.names, parts, self.shapes)}

    def unflatten_block(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Block (P, b) -> {name: tensor of shape (b, *shape)}."""
        parts = torch.split(X.T, list(self.numels), dim=1)
        return {n: p.reshape(X.shape[1], *s) for n, p, s in zip(self.names, parts, self.shapes)}

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """{name: tensor} -> flat vector (P,) in layout order."""
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def flatten_block(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """{name: (b, *shape)} -> block (P, b)."""
        b = next(iter(tensors.values())).shape[0]
        return torch.cat([tensors[n].reshape(b, -1) for n in self.names], dim=1).T


def select_parameters(model: torch.nn.Module, params=None) -> ParameterLayout:
    """The layout of the parameters of `model` chosen by `params` (see module docstring)."""
    named = list(model.named_parameters())
    if not named:
        raise InputFormatError("the model has no parameters")
    all_names = [n for n, _ in named]
    if params is None:
        chosen = [n for n, p in named if p.requires_grad] or all_names
    elif isinstance(params, str):
        try:
            pat = re.compile(params)
        except re.error as exc:
            raise InputFormatError(f"bad parameter pattern {params!r}: {exc}") from None
        chosen = [n for n in all_names if pat.search(n)]
    else:
        wanted = list(params)
        chosen = [n for n in all_names
                  if any(n == w or n.startswith(f"{w}.") for w in wanted)]
        missing = [w for w in wanted
                   if not any(n == w or n.startswith(f"{w}.") for n in all_names)]
        if missing:
            raise InputFormatError(f"no parameter named {missing}; the model has "
                                   f"{all_names}")
    if not chosen:
        raise InputFormatError(f"the parameter selection {params!r} matches none of "
                               f"{all_names}")
    by_name = dict(named)
    return ParameterLayout(tuple(chosen), tuple(tuple(by_name[n].shape) for n in chosen),
                           tuple(by_name[n].numel() for n in chosen))
