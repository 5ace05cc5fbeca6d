"""Resume state: everything ``fit()`` needs to continue exactly where it stopped.

A checkpoint is a folder ``RUN/checkpoint`` with the weights (safetensors) and ``state.pt``
(optimiser, scheduler, RNG states, data position, carried recurrent state, and the weight
average where training keeps one), loaded with
``weights_only=True``. It is written as ``checkpoint.new`` and swapped in with two renames; if
the process dies between them, ``checkpoint.old`` is still complete and is used instead.
"""
from __future__ import annotations

import pickle
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqkit.errors import SeqkitError, brief
from seqkit.rundir import WEIGHTS, load_weights, save_weights

STATE = "state.pt"
STATE_KEYS = ("optimizer", "scheduler", "progress", "rng", "carry")


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
                    carry: Any, average: nn.Module | None = None) -> None:
    """Write the resume state of a run into ``folder/checkpoint``, replacing the last one.

    At every moment a complete checkpoint lies in ``checkpoint`` or ``checkpoint.old``: the new
    one is written whole as ``checkpoint.new`` first, and ``checkpoint.old`` is deleted only
    while ``checkpoint`` exists (it only ever appears by renaming a complete folder).
    """
    new, current, old = (folder / n for n in ("checkpoint.new", "checkpoint", "checkpoint.old"))
    shutil.rmtree(new, ignore_errors=True)  # a leftover of a crash while writing
    new.mkdir(parents=True)
    save_weights(model, new / WEIGHTS)
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "progress": progress, "rng": rng_state(), "carry": carry}
    if average is not None:
        state["average"] = average.state_dict()
    torch.save(state, new / STATE)
    if current.exists():
        shutil.rmtree(old, ignore_errors=True)
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def read_state(path: Path) -> dict:
    """Read a checkpoint's ``state.pt`` with ``weights_only=True`` and check its keys; anything
    else is a ``SeqkitError`` that says what the file is."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about legacy pickles it then refuses
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # refused: it holds code or objects, or is not a torch file
        raise SeqkitError(f"{path} is not a seqkit checkpoint: it holds Python objects other "
                          "than tensors and plain values (or is no PyTorch file), and seqkit "
                          "never loads those") from None
    except Exception as err:  # truncated or corrupt archives fail in many ways
        raise SeqkitError(f"{path} is damaged, truncated or corrupt ({brief(err)})") from None
    missing = [k for k in STATE_KEYS if k not in state] if isinstance(state, dict) else STATE_KEYS
    if missing:
        raise SeqkitError(f"{path} is not a seqkit checkpoint: it lacks {', '.join(missing)}")
    return state


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds resume state (``checkpoint`` or ``checkpoint.old``): a run that
    failed or was killed before its first checkpoint has none, and is started over."""
    return any((folder / n / STATE).is_file() for n in ("checkpoint", "checkpoint.old"))


def load_checkpoint(folder: Path, model: nn.Module, optimizer, scheduler,
                    device: torch.device, average: nn.Module | None = None) -> tuple[dict, Any]:
    """Restore a run's resume state from ``checkpoint`` (or ``checkpoint.old`` when a crash
    left it the only complete one); returns ``(progress, carry)``.

    A weight ``average`` restarts from the restored weights where the checkpoint holds none (it
    was saved without one)."""
    found = [folder / n for n in ("checkpoint", "checkpoint.old")
             if (folder / n / STATE).is_file()]
    if not found:
        raise SeqkitError(f"--resume: {folder} has no checkpoint to resume from (it was "
                          "deleted); its trained weights are kept as they are. Train further "
                          "with another --out")
    failures = []
    for path in found:
        try:
            state = read_state(path / STATE)
            load_weights(model, path / WEIGHTS, device)
            break
        except SeqkitError as err:
            failures.append(err)
    else:
        raise SeqkitError(f"--resume: {failures[0]}; the run's best weights in {folder / WEIGHTS} "
                          "are not affected, but it cannot continue")
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        if average is not None:
            _restore_average(average, model, state.get("average"))
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise SeqkitError(f"--resume: {path / STATE} does not fit this run's optimiser, "
                          f"schedule or weight average ({brief(err)})") from None
    return state["progress"], state["carry"]


def _restore_average(average: nn.Module, model: nn.Module, saved: dict | None) -> None:
    """Load a saved weight average, or restart it from ``model``'s weights."""
    if saved is not None:
        average.load_state_dict(saved)
        return
    average.n_averaged.zero_()
    average.update_parameters(model)  # the first update copies
