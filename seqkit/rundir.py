"""Run directories, shaped like a Hugging Face model folder.

::

    RUN/config.json          task name, full config, seqkit version, format
    RUN/model.safetensors    the weights (best validation loss)
    RUN/tokenizer.json ...   the task's assets
    RUN/metrics.json         final evaluation
    RUN/metrics.jsonl        the training log, one JSON object per line
    RUN/learning_curve.png
    RUN/checkpoint/          resume state: model.safetensors + state.pt (optimiser, RNG, position)

Every file is written to a temporary name and renamed into place, so an interrupted write never
leaves a half-written file behind.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from seqkit.config import from_dict, saved_defaults, to_dict
from seqkit.errors import SeqkitError, brief
from seqkit.task import Task, get_task

FORMAT = 2  # bump when the layout of a run dir changes incompatibly (2: attention decoders
# run a stack of cells, whose weights are named decoder.rnn.cells.N.*)
CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.json"
CORE_FILES = {CONFIG, WEIGHTS, METRICS, "metrics.jsonl", "learning_curve.png"}  # not assets


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_leftover(path: Path) -> bool:
    """Whether ``path`` is what a killed seqkit left half-written: an ``atomic_write``
    temporary or a ``checkpoint.new`` folder. Such files never make a folder a run, nor a
    folder that is not one."""
    return path.name == "checkpoint.new" or (path.name.startswith(".") and ".tmp-" in path.name)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_metrics(folder: str | Path) -> dict:
    """A run's final metrics (``metrics.json``), or ``{}`` where it has none or the file is
    damaged: metrics are a nicety (a demo header), never a reason to fail."""
    try:
        metrics = json.loads((Path(folder) / METRICS).read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP or ``torch.compile`` wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's weights as safetensors (shared/tied tensors stored once)."""
    atomic_write(path, lambda tmp: save_model(unwrap(model), str(tmp)))


def load_weights(model: nn.Module, path: Path, device: str | torch.device = "cpu") -> None:
    """Load safetensors weights into ``model``; anything else is a clear error."""
    if not path.is_file():
        raise SeqkitError(f"{path} is missing")
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise SeqkitError(f"{path} is not a readable safetensors file ({err}); seqkit loads "
                          "weights only from safetensors, never from pickles") from err
    except RuntimeError as err:  # torch's size mismatch: one line of its report is enough
        lines = [ln.strip() for ln in str(err).splitlines() if "mismatch" in ln] or [str(err)]
        raise SeqkitError(f"{path} does not fit the model its config describes ({lines[0]}); "
                          "are these another run's weights?") from None
    if missing or unexpected:
        raise SeqkitError(f"{path} does not match the model: missing {sorted(missing)[:5]}, "
                          f"unexpected {sorted(unexpected)[:5]}")


def write_config(folder: Path, task: Task, config: Any, data: str | None = None) -> None:
    """Write ``config.json``: which task, its full config, the data it trains on (a ``--data``
    text, see ``seqkit.data.Source.spec``) and the versions that wrote it."""
    from seqkit import __version__

    meta = {"task": task.name, "seqkit_version": __version__, "format": FORMAT,
            "config": to_dict(config)}
    if data is not None:
        meta["data"] = data
    write_json(folder / CONFIG, meta)


def read_config(folder: str | Path, task_name: str | None = None) -> dict:
    """Read and check ``config.json``: the right task (if given) and a format we can read."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise SeqkitError(f"{folder} is not a seqkit run dir: it has no {CONFIG}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SeqkitError(f"{path} is damaged: not valid JSON text ({err})") from None
    if not isinstance(meta, dict) or "task" not in meta or "config" not in meta:
        raise SeqkitError(f"{path} is not a seqkit config (needs 'task' and 'config')")
    if not isinstance(meta["task"], str) or not isinstance(meta["config"], dict):
        raise SeqkitError(f"{path} is damaged: 'task' must be a task name and 'config' a table "
                          f"of settings, got {meta['task']!r:.40} and {meta['config']!r:.40}")
    if meta.get("format") != FORMAT:
        raise SeqkitError(f"{folder} was written by seqkit {meta.get('seqkit_version', '?')} "
                          f"in run-dir format {meta.get('format')}; this seqkit reads format "
                          f"{FORMAT}. Retrain, or use the seqkit version that wrote it.")
    if task_name is not None and meta["task"] != task_name:
        raise SeqkitError(f"{folder} holds a '{meta['task']}' run, not '{task_name}'; "
                          "choose another --out or the matching --task")
    return meta


@dataclass
class Run:
    """A trained model with everything needed to use it."""

    task: Task
    config: Any
    model: nn.Module
    assets: Any
    path: Path


def save_run(folder: Path, task: Task, config: Any, model: nn.Module, assets: Any,
             data: str | None = None) -> None:
    """Write config (with the ``data`` it trains on, if given), weights and assets into
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, task, config, data)
    task.save_assets(assets, folder)
    save_weights(model, folder / WEIGHTS)


def saved_config(task: Task, meta: dict, where: str = "") -> Any:
    """The task config of a run's ``config.json`` (``meta``, as ``read_config`` gives it).
    Settings added since the run was saved take the value it had (``saved_defaults``)."""
    return from_dict(task.config, meta["config"], base=saved_defaults(task.config), where=where)


def load(path: str | Path, device: str | torch.device | None = None) -> Run:
    """Rebuild a trained model from a run dir, on ``device`` (default: the CPU), in eval mode."""
    folder = Path(path)
    meta = read_config(folder)
    task = get_task(meta["task"])
    config = saved_config(task, meta, where=str(folder / CONFIG))
    try:
        assets = task.load_assets(folder)
    except SeqkitError:
        raise
    except Exception as err:  # files written by a run, damaged since: say so, not a traceback
        own = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in CORE_FILES)
        raise SeqkitError(f"{folder}: the '{task.name}' task cannot read its files "
                          f"({', '.join(own) or 'none left'}): {brief(err)}; the run dir is "
                          "damaged") from err
    try:
        model = task.build_model(config, assets)
    except SeqkitError:
        raise
    except Exception as err:
        raise SeqkitError(f"{folder}: cannot build the '{task.name}' model that {CONFIG} "
                          f"describes ({brief(err)}); the run dir is damaged") from err
    device = torch.device(device or "cpu")
    load_weights(model, folder / WEIGHTS, device)
    return Run(task, config, model.to(device).eval(), assets, folder)
