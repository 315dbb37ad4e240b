"""Memory plans of curvature operators: how many samples per micro-batch and how many
vectors per vmapped chunk a product may use so that it stays inside a byte budget.

A curvature product ``H V`` over N samples and a block of b vectors is computed in pieces:
micro-batches of ``batch_size`` samples (weighted exactly, so the sum is the full-data
product) times chunks of ``vector_chunk`` columns of V. The memory a piece holds at its
peak is modelled as

    peak(mb, c) = mb * (a + b_v * c) + fixed * c

with ``a`` the bytes one sample's graph holds, ``b_v`` the bytes one sample adds per
vector (tangents / batched cotangents of the saved activations) and ``fixed`` the bytes of
one vector's flat and per-tensor copies. The per-sample figures come from a short probe on
a few samples: on CUDA ``torch.cuda.max_memory_allocated`` around two probe products (one
and two vectors), elsewhere the bytes of the tensors autograd saves for the
second-order graph (``torch.autograd.graph.saved_tensors_hooks``), scaled by a safety
factor. The planner takes the largest micro-batch that fits with one vector, then (when
the whole data fits) the largest vector chunk. Results do not depend on the plan: the
pieces are summed with exact weights, so only the rounding order changes.

``max_memory`` is the transient memory of a product: the stored data, the parameter
copies and the caller's blocks are outside it. "auto" is ``AUTO_FRACTION`` of the free
memory of the operator's device (``torch.cuda.mem_get_info`` on CUDA, ``MemAvailable`` of
/proc/meminfo or ``os.sysconf`` on CPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from workbench.errors import InputFormatError, WorkbenchError

#: fraction of the device's free memory that max_memory="auto" grants one operator
AUTO_FRACTION = 0.5
#: safety factor on the CPU model estimate (allocator slack, transient copies)
CPU_SAFETY = 1.5
#: widest vector chunk a plan proposes (wider blocks are applied chunk by chunk)
MAX_VECTOR_CHUNK = 64
#: samples of the probe that measures the per-sample cost
PROBE_SAMPLES = 4


class MemoryBudgetError(WorkbenchError):
    """Even the smallest plan (one sample, one vector) ran out of memory."""


@dataclass(frozen=True)
class MemoryPlan:
    """How a curvature operator splits a product to fit a memory budget.

    batch_size: samples per micro-batch; vector_chunk: vectors per vmapped chunk;
    budget: bytes granted (None: unbounded); estimated_peak: the model's bytes for one
    piece at this plan; per_sample, per_sample_vector, fixed_per_vector: the measured cost
    model (bytes); how: how the figures were obtained and the plan chosen; device;
    retries: how many times an out-of-memory error shrank the plan.
    """

    batch_size: int
    vector_chunk: int
    budget: int | None
    estimated_peak: int
    per_sample: int = 0
    per_sample_vector: int = 0
    fixed_per_vector: int = 0
    how: str = ""
    device: str = "cpu"
    retries: int = 0

    def peak(self, batch_size: int, vector_chunk: int) -> int:
        """Modelled bytes of one piece of `batch_size` samples and `vector_chunk` vectors."""
        return int(batch_size * (self.per_sample + self.per_sample_vector * vector_chunk)
                   + self.fixed_per_vector * vector_chunk)

    def shrunk(self) -> MemoryPlan:
        """The next smaller plan after an out-of-memory error: half the vector chunk, or
        (at one vector) half the micro-batch. Raises MemoryBudgetError at (1, 1)."""
        if self.vector_chunk > 1:
            c, mb = self.vector_chunk // 2, self.batch_size
        elif self.batch_size > 1:
            c, mb = 1, self.batch_size // 2
        else:
            raise MemoryBudgetError("out of memory with one sample and one vector per "
                                    "piece: the model does not fit the device")
        return replace(self, batch_size=mb, vector_chunk=c, estimated_peak=self.peak(mb, c),
                       retries=self.retries + 1,
                       how=f"{self.how}; shrunk to {mb} x {c} after out-of-memory")


def available_memory(device) -> int:
    """Free bytes of `device`: ``torch.cuda.mem_get_info`` on CUDA; on CPU MemAvailable of
    /proc/meminfo, else ``os.sysconf`` available pages. Costs a system call."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic systems
        return 8 * 2**30


def parse_budget(max_memory, device) -> int | None:
    """Bytes of a ``max_memory`` argument: None (unbounded), a positive number of bytes,
    or "auto" (AUTO_FRACTION of the device's free memory)."""
    if max_memory is None:
        return None
    if isinstance(max_memory, str):
        if max_memory == "auto":
            return int(AUTO_FRACTION * available_memory(device))
        raise InputFormatError(f"max_memory must be a number of bytes, 'auto' or None, "
                               f"got {max_memory!r}")
    if isinstance(max_memory, bool) or not isinstance(max_memory, int | float) \
            or not max_memory > 0:
        raise InputFormatError(f"max_memory must be a positive number of bytes, got "
                               f"{max_memory!r}")
    return int(max_memory)


def is_oom(exc: BaseException) -> bool:
    """True for torch's out-of-memory errors (CUDA's OutOfMemoryError, or a RuntimeError
    saying "out of memory", as CPU allocators and older torch raise)."""
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class SavedBytes:
    """Context manager counting the bytes of the distinct tensors autograd saves for
    backward inside it, except storages listed in `exclude` (parameters, inputs)."""

    def __init__(self, exclude=()):
        self.exclude = {self._key(t) for t in exclude}
        self.seen: set = set()
        self.bytes = 0

    @staticmethod
    def _key(t: torch.Tensor):
        try:
            return t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):  # tensor subclasses without storage
            return id(t)

    def _pack(self, t):
        if isinstance(t, torch.Tensor):
            key = self._key(t)
            if key not in self.exclude and key not in self.seen:
                self.seen.add(key)
                try:
                    self.bytes += t.untyped_storage().nbytes()
                except (RuntimeError, NotImplementedError):
                    self.bytes += t.numel() * t.element_size()
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def choose_plan(*, per_sample: int, per_sample_vector: int, fixed_per_vector: int,
                max_batch: int, max_chunk: int, budget: int | None, how: str,
                device) -> MemoryPlan:
    """The plan for a measured cost model: unbounded -> (max_batch, max_chunk); else the
    largest micro-batch that fits with one vector and, when the whole batch fits, the
    largest vector chunk that still fits. When not even one sample fits, (1, 1) with a
    note in ``how``. Cost O(log max_chunk)."""
    base = MemoryPlan(1, 1, budget, 0, int(per_sample), int(per_sample_vector),
                      int(fixed_per_vector), how, str(device))
    max_batch, max_chunk = max(1, int(max_batch)), max(1, int(max_chunk))
    if budget is None:
        return replace(base, batch_size=max_batch, vector_chunk=max_chunk,
                       estimated_peak=base.peak(max_batch, max_chunk),
                       how=f"{how}; no budget: whole batches, chunks of {max_chunk}")
    per_one = base.per_sample + base.per_sample_vector
    room = budget - base.fixed_per_vector
    if per_one <= 0:
        mb = max_batch
    else:
        mb = max(1, min(max_batch, int(room // per_one))) if room > 0 else 1
    c = 1
    if mb == max_batch:
        while c < max_chunk and base.peak(mb, min(max_chunk, 2 * c)) <= budget:
            c = min(max_chunk, 2 * c)
        if c < max_chunk:  # refine between c and 2c
            lo, hi = c, min(max_chunk, 2 * c)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if base.peak(mb, mid) <= budget else (lo, mid)
            if base.peak(mb, hi) <= budget:
                lo = hi
            c = lo
    note = f"{how}; budget {budget / 2**20:.1f} MiB -> {mb} samples x {c} vectors"
    if base.peak(1, 1) > budget:
        note += " (one sample exceeds the budget: smallest plan)"
    return replace(base, batch_size=mb, vector_chunk=c, estimated_peak=base.peak(mb, c),
                   how=note)
