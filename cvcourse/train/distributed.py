"""Data-parallel training on several processes (PyTorch DistributedDataParallel), used by `fit`.

`torchrun --nproc_per_node=N script.py` starts N copies of a script and tells each its place through
environment variables (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). When `fit` sees
WORLD_SIZE > 1 it joins the process group (backend "nccl" on CUDA, "gloo" on the CPU), wraps the
model in DDP and gives each process a disjoint shard of every epoch's data (DistributedSampler).
After each backward pass DDP averages the gradients over the processes, so N processes with B
samples each take the same step as one process with a batch of N x B (for a loss that is a mean
over the batch). Every process keeps identical weights; rank 0 logs and saves.

Reference: S. Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
VLDB 2020 (arXiv:2006.15704); PyTorch "torchrun (Elastic Launch)" documentation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistContext", "all_reduce_sum", "close_distributed", "init_distributed", "is_launched", "wrap_model"]


@dataclass(frozen=True)
class DistContext:
    """One process's place in a data-parallel run.

    Attributes:
        rank: this process's index, 0..world_size-1 (rank 0 logs and saves).
        world_size: the number of processes.
        local_rank: the index on this machine (the GPU it uses).
        device: the device this process trains on.
        owns_group: True when `init_distributed` created the process group (and so closes it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"environment variable {name}: expected an int, got {value!r}") from None


def is_launched() -> bool:
    """True when this process is one of several started by torchrun (WORLD_SIZE > 1), or an
    initialized process group has more than one member.

    Returns:
        whether `fit` trains data-parallel.

    Reference: PyTorch "torchrun (Elastic Launch)", environment variables.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return _env_int("WORLD_SIZE", 1) > 1


def init_distributed(device: torch.device | None = None) -> DistContext | None:
    """Join the process group when launched by torchrun; None on a single process.

    Args:
        device: the device asked for (None: CUDA if available, else the CPU). A CUDA device becomes
            cuda:LOCAL_RANK (one GPU per process); MPS is refused (no DDP backend supports it).

    Returns:
        a DistContext, or None when WORLD_SIZE <= 1 (nothing to do).

    Raises:
        ValueError: an MPS device, or RANK/WORLD_SIZE missing or inconsistent.
        RuntimeError: torch was built without torch.distributed.

    Reference: PyTorch `torch.distributed.init_process_group` (init_method "env://").
    """
    if not is_launched():
        return None
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; train on one process")
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: DistributedDataParallel runs on 'cpu' (gloo) or 'cuda' (nccl), got {device}")
    owns = not dist.is_initialized()
    if owns:
        if "RANK" not in os.environ:
            raise ValueError("WORLD_SIZE > 1 but RANK is not set: start the script with torchrun")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = _env_int("LOCAL_RANK", rank)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return DistContext(rank, world, local, device, owns)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.parallel.DistributedDataParallel:
    """Wrap `model` (already on `ctx.device`) in DistributedDataParallel.

    Wrapping copies rank 0's parameters and buffers to every process, so all start equal whatever
    their own initialization was.

    Args:
        model: the model, on `ctx.device`.
        ctx: from `init_distributed`.

    Returns:
        the DDP wrapper; `wrapper.module` is `model` (the same parameters).

    Reference: PyTorch `torch.nn.parallel.DistributedDataParallel`.
    """
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(values: torch.Tensor, ctx: DistContext | None) -> torch.Tensor:
    """Sum `values` over the processes (identity on one process).

    Args:
        values (Tensor[K]): this process's numbers (any device; float64 recommended).
        ctx: from `init_distributed`, or None.

    Returns:
        Tensor[K] on the CPU: the element-wise sum over all processes.

    Reference: PyTorch `torch.distributed.all_reduce` (ReduceOp.SUM).
    """
    if ctx is None:
        return values.cpu()
    # nccl reduces CUDA tensors only; gloo CPU tensors
    values = values.to(ctx.device if ctx.device.type == "cuda" else "cpu").clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def close_distributed(ctx: DistContext | None, barrier: bool = True) -> None:
    """Leave the process group if `init_distributed` created it.

    Args:
        ctx: from `init_distributed`, or None (nothing to do).
        barrier: first wait for every process (so that none quits while another still needs it);
            False after an error, when the others may never arrive.

    Returns:
        None.

    Reference: PyTorch `torch.distributed.destroy_process_group`.
    """
    if ctx is not None and ctx.owns_group and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()
