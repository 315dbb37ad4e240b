"""Per-block curvature spectra: top eigenvalue, trace and density of the diagonal block of
the Hessian (or GGN / Fisher) of each layer / module of a model: "which layers are sharp".

``auto_blocks(model)`` groups parameters the way one reads a network: for transformers
(parameters under ``...layer.N.``, ``...layers.N.``, ``...h.N.``, ``...blocks.N.``) the
attention and the MLP of each layer (LayerNorms go with the sub-layer they feed or
follow); every other parameter with the shortest module path that holds no layer (the
embeddings, a classification head, each stage of a ResNet, each layer of a Sequential).
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
from torch import nn

from workbench.errors import InputFormatError

_LAYER = re.compile(r"^(.*?(?:^|\.)(?:layer|layers|h|block|blocks)\.\d+)\.(.+)$")
_ATTN = re.compile(r"(^|\.)(attn|attention|self_attn|ln_1|input_layernorm)(\.|$)")


def auto_blocks(model: nn.Module) -> dict[str, list[str]]:
    """{block name: parameter names} of the trainable parameters of `model` (see the module
    docstring), in parameter order."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise InputFormatError("the model has no trainable parameters")
    layer_key = {}
    for n in names:
        m = _LAYER.match(n)
        if m:
            layer_key[n] = m.group(1) + (".attention" if _ATTN.search(m.group(2)) else ".mlp")
    layer_prefixes = set(layer_key)
    blocks: dict[str, list[str]] = {}
    for n in names:
        if n in layer_key:
            key = layer_key[n]
        else:
            parts = n.split(".")
            key = ".".join(parts[:-1]) or n
            for j in range(1, len(parts)):
                prefix = ".".join(parts[:j])
                if not any(p.startswith(prefix + ".") for p in layer_prefixes):
                    key = prefix
                    break
        blocks.setdefault(key, []).append(n)
    return blocks


def _as_blocks(model, blocks) -> dict[str, list[str]]:
    if isinstance(blocks, str):
        if blocks != "auto":
            raise InputFormatError(f"blocks must be 'auto', a dict or a list of module "
                                   f"prefixes, got {blocks!r}")
        return auto_blocks(model)
    if isinstance(blocks, dict):
        return {str(k): list(v) if not isinstance(v, str) else [v] for k, v in blocks.items()}
    return {str(b): [str(b)] for b in blocks}


def _exact_trace(op, chunk: int = 64) -> float:
    """sum_i e_i^T A e_i: n products, in blocks of `chunk` unit vectors (on the device)."""
    import torch

    n, total = op.shape[0], 0.0
    for s in range(0, n, chunk):
        k = min(chunk, n - s)
        E = torch.zeros(n, k, dtype=op.dtype, device=op.device)
        E[torch.arange(s, s + k, device=op.device), torch.arange(k, device=op.device)] = 1.0
        total += float(op.matmat(E)[s:s + k].diagonal().sum())
    return total


def block_spectra(model: nn.Module, loss_fn, data, blocks="auto", kind: str = "hessian",
                  k: int = 1, num_probes: int = 4, num_steps: int = 20,
                  trace_matvecs: int = 20, tol: float = 1e-4, seed: int = 0,
                  progress=None, share_probe: bool = True,
                  **operator_kwargs) -> pd.DataFrame:
    """One row per block of the curvature operator of `kind` ("hessian", "ggn",
    "fisher") restricted to the block's parameters (its diagonal block).

    blocks: "auto" (``auto_blocks``), a dict {name: parameter names / prefixes / regex} or
    a list of module prefixes. operator_kwargs go to the operator (max_memory, device,
    batch_size, hvp, ...). share_probe: probe the memory plan once, over all parameters
    (``op.model_probe()``), and reuse it for every block instead of probing per block (a
    forward/backward and a product each: ~2 CPU s a block on MiniLM).

    Returns a pandas DataFrame with columns block, num_params, top_eigenvalue, top_values
    (the k largest, descending), trace (exact from n unit vectors when the block has at
    most trace_matvecs parameters, else XTrace), trace_std, density (the block's SLQ
    DensityResult), num_matvecs, seconds, hvp (the HVP method that ran), plan (the block
    operator's MemoryPlan), note (e.g. a block the loss does not reach: zero curvature).
    Cost per block: the Lanczos products of top-k (~10-30) + trace_matvecs + num_probes * num_steps products of the block operator,
    each about one HVP of the full model (the forward/backward passes run through the
    whole network whatever the block).
    """
    from workbench import spectral as sp
    from workbench.hessian.spectrum import make_operator

    spec = _as_blocks(model, blocks)
    probe = None
    if share_probe and len(spec) > 1 and "probe" not in operator_kwargs:
        # one plan probe over all parameters, reused by every block (see ModelProbe)
        probe = make_operator(kind, model, loss_fn, data, **operator_kwargs).model_probe()
    rows = []
    for i, (name, sel) in enumerate(spec.items()):
        t0 = time.perf_counter()
        op = make_operator(kind, model, loss_fn, data, params=sel, probe=probe,
                           **operator_kwargs)
        n = op.shape[0]
        row = dict(block=name, num_params=n)
        try:
            _ = op.plan  # the probe: finds parameters the loss does not reach
        except InputFormatError as exc:
            if "does not depend" not in str(exc):
                raise
            rows.append(dict(row, top_eigenvalue=0.0, top_values=np.zeros(min(k, n)),
                             trace=0.0, trace_std=0.0, density=None, num_matvecs=0,
                             seconds=time.perf_counter() - t0, hvp=None, plan=None,
                             note="not reached by the loss: zero curvature"))
            if progress:
                progress((i + 1) / len(spec))
            continue
        kk = max(1, min(int(k), n))
        top = sp.top_eigs(op, k=kk, which="LA", tol=tol, seed=seed)
        if n <= trace_matvecs:  # small block: the exact trace from n unit vectors
            trace, trace_std = _exact_trace(op), 0.0
        else:
            tr = sp.trace(op, method="xtrace", num_matvecs=max(4, trace_matvecs), seed=seed)
            trace, trace_std = float(tr.estimate), float(tr.std_error)
        dens = sp.spectral_density(op, num_probes=num_probes, num_steps=min(num_steps, n),
                                   seed=seed)
        rows.append(dict(row, top_eigenvalue=float(top.values[0]),
                         top_values=np.asarray(top.values), trace=trace,
                         trace_std=trace_std, density=dens,
                         num_matvecs=int(op.num_matvecs), seconds=time.perf_counter() - t0,
                         hvp=getattr(op, "hvp", None), plan=op.plan,
                         note="; ".join(op.notes)))
        if progress:
            progress((i + 1) / len(spec))
    return pd.DataFrame(rows)
