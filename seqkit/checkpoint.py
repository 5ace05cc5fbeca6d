"""Resume state: everything ``fit()`` needs to continue exactly where it stopped.

A checkpoint is a folder ``RUN/checkpoint`` with the weights (safetensors) and ``state.pt``
(optimiser, scheduler, RNG states, data position, carried recurrent state), loaded with
``weights_only=True``. It is written as ``checkpoint.new`` and swapped in with two renames; if
the process dies between them, ``checkpoint.old`` is still complete and is used instead.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqkit.errors import SeqkitError
from seqkit.rundir import WEIGHTS, load_weights, save_weights


def rng_state() -> dict:
    """The random states that training consumes: torch (CPU, CUDA) and Python's."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` saved."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, model: nn.Module, optimizer, scheduler, progress: dict,
                    carry: Any) -> None:
    """Write the resume state of a run into ``folder/checkpoint``, replacing the last one."""
    new, current, old = (folder / n for n in ("checkpoint.new", "checkpoint", "checkpoint.old"))
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    save_weights(model, new / WEIGHTS)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "progress": progress, "rng": rng_state(), "carry": carry}, new / "state.pt")
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, model: nn.Module, optimizer, scheduler,
                    device: torch.device) -> tuple[dict, Any]:
    """Restore a run's resume state; returns ``(progress, carry)``."""
    path = next((folder / n for n in ("checkpoint", "checkpoint.old")
                 if (folder / n / "state.pt").is_file()), None)
    if path is None:
        raise SeqkitError(f"--resume: {folder} has no checkpoint to resume from")
    load_weights(model, path / WEIGHTS, device)
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise SeqkitError(f"cannot read the resume state {path / 'state.pt'}: {err}") from err
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["progress"], state["carry"]
