"""Rank awareness, so that ``torchrun --nproc_per_node N seqkit train ...`` runs under DDP.

Only rank 0 logs and saves. Outside torchrun, rank is 0 and the world has one process.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of training processes (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True on the process that logs and writes files."""
    return rank() == 0


def setup(device: torch.device) -> None:
    """Join the process group when started by torchrun (NCCL on GPUs, gloo on CPUs)."""
    if world_size() > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


def pick_device(name: str) -> torch.device:
    """``auto`` -> this rank's GPU when there is one, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    return torch.device(name)
