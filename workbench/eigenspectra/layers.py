"""Turn a model or named arrays into the 2-D weight matrices whose ESDs are analyzed.

Accepted inputs: a torch ``nn.Module``, a dict of named arrays (numpy or torch), a path to
a safetensors file / folder / .npz / .npy (loaded by :mod:`workbench.io`), or one matrix.

- 2-D weights (Linear, Embedding, attention projections): the matrix itself.
- Fused attention projections (``in_proj_weight`` of ``nn.MultiheadAttention``, or any
  ``qkv``/``in_proj`` array of shape (3d, d)) are split into q, k, v when ``split_qkv``.
- Conv weights (3-D, 4-D, 5-D): one (out x in) slice per kernel position. Which two axes
  are the channels is given by ``conv_layout`` ("OIHW"/"OIW" torch, "HWIO"/"WIO"
  TensorFlow/JAX, "OHWI", "IOHW" transposed conv, ...) or found by ``"auto"``: channels are
  the leading pair, the trailing pair or the first and last axes, whichever leaves small,
  square kernel axes (torch order on a tie). The ESD does not depend on which channel axis
  is O and which is I.
- Everything else (biases, norms, integer buffers, too-small matrices) is skipped, and
  listed with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import InputFormatError, ShapeError

__all__ = ["LayerMatrices", "extract_layers", "as_named_arrays", "conv_slices"]


@dataclass
class LayerMatrices:
    """One analyzed layer: its 2-D matrices (several for a conv layer's kernel positions).

    N >= M are the long and short sides of one slice; rf is the number of slices.
    """

    layer_id: int
    name: str
    kind: str  # dense | embedding | conv1d | conv2d | conv3d | attention
    mats: list = field(repr=False)
    N: int = 0
    M: int = 0
    rf: int = 1
    longname: str = ""
    layout: str = ""


def _to_numpy_copy(x) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach()
            if x.dtype in (torch.float16, torch.bfloat16):
                x = x.float()
            return x.cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(x)


def _is_tensor(x) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, torch.Tensor)


def as_named_arrays(obj, keep_torch: bool = False) -> tuple[dict, dict]:
    """(arrays, kinds): named arrays from a module / dict / path / matrix, and the layer
    kind known from a torch module type (empty for plain arrays). ``keep_torch``: torch
    tensors stay (detached) tensors on their device instead of numpy copies."""
    kinds: dict[str, str] = {}
    if keep_torch:
        def _to_numpy(x):
            return x.detach() if _is_tensor(x) else _to_numpy_copy(x)
    else:
        _to_numpy = _to_numpy_copy
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover
        nn = None
    if nn is not None and isinstance(obj, nn.Module):
        arrays: dict[str, np.ndarray] = {}
        owned = set()
        for mname, mod in obj.named_modules():
            prefix = f"{mname}." if mname else ""
            w = getattr(mod, "weight", None)
            if isinstance(mod, nn.MultiheadAttention) and mod.in_proj_weight is not None:
                arrays[prefix + "in_proj_weight"] = _to_numpy(mod.in_proj_weight)
                kinds[prefix + "in_proj_weight"] = "attention"
                owned.add(prefix + "in_proj_weight")
                continue
            if w is None or not hasattr(w, "ndim"):
                continue
            key = prefix + "weight"
            if isinstance(mod, nn.Embedding):
                kinds[key] = "embedding"
            elif isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                kinds[key] = f"conv{w.ndim - 2}d"
                kinds[key + "#layout"] = "OI" + "HWD"[: w.ndim - 2]
            elif isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                kinds[key] = f"conv{w.ndim - 2}d"
                kinds[key + "#layout"] = "IO" + "HWD"[: w.ndim - 2]
            elif isinstance(mod, nn.Linear):
                kinds[key] = "dense"
            arrays[key] = _to_numpy(w)
            owned.add(key)
        for pname, p in obj.named_parameters():
            if pname not in owned:
                arrays[pname] = _to_numpy(p)
        return arrays, kinds
    if isinstance(obj, dict):
        if "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        return {str(k): _to_numpy(v) for k, v in obj.items()}, kinds
    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__"):
        from workbench.io import load_matrices

        return load_matrices(obj), kinds
    arr = _to_numpy(obj)
    if not _is_tensor(arr) and arr.dtype == object:
        raise InputFormatError(f"cannot analyze an object of type {type(obj).__name__}; pass "
                               "a torch module, a dict of arrays, a file path or a matrix")
    return {"W": arr}, kinds


def _auto_layout(shape: tuple[int, ...]) -> str:
    """Guess which two axes are the channels of a conv kernel.

    Candidates: channels first ("OIHW", torch), last ("HWIO", TensorFlow/JAX) or around the
    spatial axes ("OHWI", TFLite/ONNX-converted). Kernels are small and usually square, so
    the candidate whose remaining (spatial) axes are all equal wins, then the one with the
    fewest kernel positions, then torch order. Ambiguous shapes (e.g. 16 x 3 x 3 x 3) need
    an explicit ``conv_layout``.
    """
    k = len(shape) - 2
    sp = "HWD"[:k] if k > 1 else "W"
    candidates = ["OI" + sp, sp + "IO", "O" + sp + "I"]

    def score(order: int, layout: str):
        dims = [n for n, c in zip(shape, layout) if c not in "OI"]
        return (len(set(dims)) > 1, int(np.prod(dims)), order)

    return min(candidates, key=lambda lay: score(candidates.index(lay), lay))


def conv_slices(W: np.ndarray, layout: str = "auto") -> tuple[list[np.ndarray], str]:
    """Per-kernel-position channel matrices of a conv weight, and the layout used.

    ``layout`` names each axis: "O" and "I" are the channels, any other letters spatial
    (e.g. "OIHW", "HWIO", "OIW", "WIO", "IOHW"). Returns rf = prod(spatial) matrices of
    shape (O, I).
    """
    if W.ndim < 3:
        raise ShapeError(f"conv weight needs >= 3 dimensions, got shape {W.shape}")
    if layout == "auto":
        layout = _auto_layout(W.shape)
    layout = layout.upper()
    if len(layout) != W.ndim or "O" not in layout or "I" not in layout or len(set(layout)) != W.ndim:
        raise ShapeError(f"conv layout {layout!r} does not fit a weight of shape {W.shape}: "
                         "use one letter per axis with O and I for the channels, e.g. OIHW")
    o, i = layout.index("O"), layout.index("I")
    spatial = [a for a in range(W.ndim) if a not in (o, i)]
    Wt = W.permute(*spatial, o, i) if _is_tensor(W) else np.transpose(W, (*spatial, o, i))
    flat = Wt.reshape(-1, W.shape[o], W.shape[i])
    return [flat[s] for s in range(flat.shape[0])], layout


_QKV = re.compile(r"(in_proj_weight|qkv|query_key_value|c_attn)", re.IGNORECASE)


def extract_layers(obj, *, layers=None, min_evals: int = 8, max_evals: int = 15000,
                   max_N: int = 500_000, conv_layout: str = "auto", conv_mode: str = "pool",
                   split_qkv: bool = True, keep_torch: bool = False):
    """(list of LayerMatrices, list of skipped {name, shape, reason}).

    ``layers``: None (all), a list of names, or a regex string to select layers by name.
    ``conv_mode``: "pool" (one row per conv layer, eigenvalues of all kernel positions
    pooled, WeightWatcher's default) or "slices" (one row per kernel position).
    Layers with min(N, M) * rf < min_evals or M > max_evals or N > max_N are skipped.
    ``keep_torch``: torch weights stay tensors on their own device (no host copy; the
    NaN/inf check is one device reduction per array).
    """
    if conv_mode not in ("pool", "slices"):
        raise ValueError(f"conv_mode must be 'pool' or 'slices', got {conv_mode!r}")
    arrays, kinds = as_named_arrays(obj, keep_torch=keep_torch)
    out: list[LayerMatrices] = []
    skipped: list[dict] = []
    lid = 0

    def want(name: str) -> bool:
        if layers is None:
            return True
        if isinstance(layers, str):
            return re.search(layers, name) is not None
        return name in set(layers)

    for name, W in arrays.items():
        if name.endswith("#layout"):
            continue
        shape = tuple(W.shape)
        if not want(name):
            continue
        is_t = _is_tensor(W)
        if (not W.is_floating_point()) if is_t else W.dtype.kind not in "f":
            skipped.append({"name": name, "shape": shape,
                            "reason": f"{W.dtype} array (not floating point weights)"})
            continue
        if W.ndim < 2:
            skipped.append({"name": name, "shape": shape,
                            "reason": "1-D (bias / normalization), no matrix spectrum"})
            continue
        if not (bool(W.isfinite().all()) if is_t else np.all(np.isfinite(W))):
            skipped.append({"name": name, "shape": shape, "reason": "holds NaN/inf values"})
            continue
        kind = kinds.get(name)
        entries: list[tuple[str, str, list[np.ndarray], str]] = []
        if W.ndim == 2:
            if kind is None:
                kind = "embedding" if "embed" in name.lower() else "dense"
            if split_qkv and (kind == "attention" or _QKV.search(name)) and \
                    W.shape[0] == 3 * W.shape[1]:
                d = W.shape[1]
                for j, part in enumerate("qkv"):
                    entries.append((f"{name}[{part}]", "attention", [W[j * d:(j + 1) * d]], ""))
            else:
                entries.append((name, "attention" if kind == "attention" else kind, [W], ""))
        elif W.ndim <= 5:
            lay = kinds.get(name + "#layout", conv_layout)
            try:
                mats, used = conv_slices(W, lay)
            except ShapeError as exc:
                skipped.append({"name": name, "shape": shape, "reason": str(exc)})
                continue
            ck = kind or f"conv{W.ndim - 2}d"
            if conv_mode == "pool":
                entries.append((name, ck, mats, used))
            else:
                spatial_shape = [W.shape[used.index(c)] for c in used if c not in "OI"]
                for s, idx in enumerate(np.ndindex(*spatial_shape)):
                    entries.append((f"{name}[{','.join(map(str, idx))}]", ck, [mats[s]], used))
        else:
            skipped.append({"name": name, "shape": shape,
                            "reason": f"{W.ndim}-D array: no known matrix layout"})
            continue
        for ename, ekind, mats, used in entries:
            n0, m0 = mats[0].shape
            N, M = max(n0, m0), min(n0, m0)
            rf = len(mats)
            if M * rf < min_evals:
                skipped.append({"name": ename, "shape": shape,
                                "reason": f"{M * rf} eigenvalues < min_evals={min_evals}"})
                continue
            if M > max_evals:
                skipped.append({"name": ename, "shape": shape,
                                "reason": f"min side {M} > max_evals={max_evals}"})
                continue
            if N > max_N:
                skipped.append({"name": ename, "shape": shape,
                                "reason": f"long side {N} > max_N={max_N}"})
                continue
            out.append(LayerMatrices(layer_id=lid, name=ename, kind=ekind, mats=mats, N=N, M=M,
                                     rf=rf, longname=ename, layout=used))
            lid += 1
    return out, skipped
