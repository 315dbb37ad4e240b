"""Data-parallel curvature operators on ``torch.distributed``: each rank holds a shard of
the data, a product is the all-reduce of the per-rank products weighted by shard sizes.

With mean-reduced losses the full-data operator is ``sum_r (n_r / N) H_r`` (H_r the
operator of rank r's shard, N the samples of all ranks), so one ``all_reduce`` of the
weighted (P, b) block per product gives every rank the same full-data product; every
estimator of ``workbench.spectral`` then runs unchanged on each rank, in lockstep (the
probes come from the same seed on every rank). NCCL on GPUs (the local operator's device
is the rank's GPU), gloo on CPU. Recipe (README): ``torchrun --nproc-per-node=2 script.py``
with

    import torch.distributed as dist, workbench as wb
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    H = wb.hessian.distributed_operator("hessian", model, loss_fn, (X, y), shard=True)
    vals, _ = wb.spectral.top_eigs(H, k=5)      # the same on every rank
"""

from __future__ import annotations

import torch

from workbench.errors import InputFormatError
from workbench.hessian.data import as_batches
from workbench.operators.base import LinearOperator


def shard_data(data, rank: int, world_size: int):
    """This rank's contiguous share of the samples of `data` (an (X, y) pair, a list of
    batches or a DataLoader): samples [rank * N // W, (rank + 1) * N // W)."""
    batches = as_batches(data)
    X = torch.cat([b[0] for b in batches]) if len(batches) > 1 else batches[0][0]
    y = torch.cat([b[1] for b in batches]) if len(batches) > 1 else batches[0][1]
    n = X.shape[0]
    if n < world_size:
        raise InputFormatError(f"{n} samples cannot be shared by {world_size} ranks")
    a, b = rank * n // world_size, (rank + 1) * n // world_size
    return X[a:b], y[a:b]


class DistributedCurvatureOperator(LinearOperator):
    """The full-data curvature operator from each rank's local one (see module docstring).
    ``local``: a CurvatureOperator over this rank's shard; ``group``: the process group
    (default: the world). Costs per product: the local product plus one all-reduce of a
    (P, b) block; ``num_matvecs`` counts vectors as for any operator."""

    def __init__(self, local, group=None):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise InputFormatError("torch.distributed is not initialized: call "
                                   "dist.init_process_group (torchrun sets the environment)")
        self.local, self.group = local, group
        n = torch.tensor([float(local.num_samples)], dtype=torch.float64, device=local.device)
        dist.all_reduce(n, group=group)
        self.total_samples = int(round(float(n)))
        self.weight = local.num_samples / self.total_samples
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        super().__init__(local.shape, local.dtype, "torch", local.device, symmetric=True,
                         name=f"Distributed{local.name}")
        self.kind = getattr(local, "kind", "curvature")

    @property
    def plan(self):
        """The local operator's memory plan (each rank plans for its own device)."""
        return self.local.plan

    @property
    def budget(self):
        return self.local.budget

    @property
    def notes(self):
        return self.local.notes

    def _matmat(self, X: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        Y = self.local.matmat(X.to(dtype=self.dtype, device=self.device)) * self.weight
        dist.all_reduce(Y, group=self.group)
        return Y


def distributed_operator(kind: str, model, loss_fn, data, params=None, shard: bool = True,
                         group=None, **kwargs) -> DistributedCurvatureOperator:
    """A data-parallel curvature operator of `kind` ("hessian", "ggn", "fisher").

    shard: True when every rank passes the same full `data` (each keeps its contiguous
    share, ``shard_data``); False when each rank already passes its own shard. kwargs go
    to the local operator (max_memory, device, batch_size, hvp, ...); on NCCL pass the
    rank's GPU as ``device=`` (or move the model there)."""
    import torch.distributed as dist

    from workbench.hessian.spectrum import make_operator

    if not dist.is_available() or not dist.is_initialized():
        raise InputFormatError("torch.distributed is not initialized: call "
                               "dist.init_process_group (torchrun sets the environment)")
    if shard:
        data = shard_data(data, dist.get_rank(group), dist.get_world_size(group))
    local = make_operator(kind, model, loss_fn, data, params=params, **kwargs)
    return DistributedCurvatureOperator(local, group)
