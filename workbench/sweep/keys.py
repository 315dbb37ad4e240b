"""Stable task keys: a hash of (experiment name, parameters, code version).

The key names the result file of one task, so it must be the same in every process, on
every machine and in every Python session: it is the SHA-256 of a canonical JSON text
(sorted keys, no whitespace), never Python's ``hash()`` (randomized per process).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_LENGTH = 24  # hex digits: 96 bits, no collision in any realistic sweep


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text: sorted keys, compact separators, floats via repr."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def task_key(experiment: str, params: dict, version: str) -> str:
    """Hex key of one task. Changing the experiment, any parameter or the code version
    changes the key, so a rerun recomputes exactly what changed. Costs one SHA-256."""
    text = canonical_json({"experiment": experiment, "params": params, "version": version})
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]
