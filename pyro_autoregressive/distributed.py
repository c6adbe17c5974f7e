"""Data parallelism over processes started by ``torchrun``: the process group, shards and reductions.

``torchrun --nproc_per_node N -m pyro_autoregressive train ...`` (``--nnodes`` and a
rendezvous for several machines) starts ``N`` processes per machine and tells each
its place through the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). :func:`process_group` joins that job (NCCL on
CUDA, one GPU per process by ``LOCAL_RANK``; gloo on CPU);
:func:`~pyro_autoregressive.training.fit` then trains a ``DistributedDataParallel``
copy per process, and every function here is a no-op in a single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "all_gather",
    "any_process",
    "barrier",
    "broadcast_text",
    "data_parallel",
    "is_main",
    "launched",
    "process_group",
    "rank",
    "shard",
    "sum_over_processes",
    "world_size",
]

#: the variables torchrun sets for every process it starts
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (its environment variables are set)."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def active() -> bool:
    """Whether a process group of more than one process is joined."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's index in the job (0 in a single process)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes in the job (1 in a single process)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this process writes the files and prints (rank 0)."""
    return rank() == 0


@contextmanager
def process_group(device: torch.device | str) -> Iterator[torch.device]:
    """Join the job ``torchrun`` started for the block (and leave it after); yields this process's device.

    On CUDA (``device`` ``cuda`` without an index) each process takes the GPU of its
    ``LOCAL_RANK`` and the backend is NCCL; on CPU it is gloo. Outside ``torchrun``,
    or when a group is already joined, nothing is joined or left and ``device`` is
    yielded as it is.
    """
    device = torch.device(device)
    if not launched() or (dist.is_available() and dist.is_initialized()):
        yield device
        return
    if not dist.is_available():  # pragma: no cover - every supported torch build has it
        raise RuntimeError("torchrun started this process, but this torch build has no torch.distributed")
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    try:
        yield device
        dist.barrier()  # no process leaves (and tears its connections down) while another still talks to it
    finally:
        dist.destroy_process_group()


def data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` when several processes train (as it is otherwise).

    DDP copies rank 0's parameters and buffers to every process, then averages the
    gradients over the processes in every backward pass.
    """
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def shard(*tensors: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """This process's examples of each tensor: positions ``rank, rank + world_size, ...`` (no padding)."""
    if not active():
        return tensors
    r, w = rank(), world_size()
    return tuple(None if t is None else t[r::w] for t in tensors)


def sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over the processes, in place (every process gets the sum)."""
    if active():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_process(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true in any process (so that all take the same branch)."""
    if not active():
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _collective_device() -> torch.device:
    """Where the process group's collectives take their tensors: this process's GPU under NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's ``tensor`` (the same shape and dtype everywhere), on the CPU, in rank order."""
    if not active():
        return [tensor.cpu()]
    device = _collective_device()
    local = tensor.to(device)
    gathered = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    return [t.cpu() for t in gathered]


def broadcast_text(text: str | None) -> str | None:
    """Rank 0's ``text`` (or None) in every process (a verdict only rank 0 can reach, such as a refusal)."""
    if not active():
        return text
    device = _collective_device()
    data = b"" if text is None else text.encode("utf-8")
    size = torch.tensor([len(data) if text is not None else -1], dtype=torch.long, device=device)
    dist.broadcast(size, src=0)
    if size.item() <= 0:
        return None if size.item() < 0 else ""
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if rank() == 0:
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return bytes(buffer.cpu().tolist()).decode("utf-8")


def barrier() -> None:
    """Wait until every process gets here."""
    if active():
        dist.barrier()
