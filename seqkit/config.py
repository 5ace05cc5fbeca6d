"""Training configuration, and reading configs from dicts and TOML/YAML files.

Each task has its own config dataclass with a ``train: TrainConfig`` field. Command-line overrides
are parsed by tyro (see ``seqkit.cli``); this module only converts between dataclasses and plain
dicts so that a config can be written to ``config.json`` and read back.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

from seqkit.errors import SeqkitError

C = TypeVar("C")


@dataclass
class TrainConfig:
    """How ``fit()`` trains: optimiser, schedule, BPTT, stopping and logging."""

    batch_size: int = 20  # sequences per batch (streams: parallel rows)
    # fill each batch up to this many tokens or frames (padding included) instead of a fixed
    # batch_size; 0: use batch_size. For tasks that batch independent examples.
    batch_tokens: int = 0
    workers: int = 0  # DataLoader worker processes that decode and collate (0: in the loop)
    bptt: int = 35  # truncated-BPTT chunk length in steps, for streaming tasks
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # torch.optim algorithm
    lr: float = 20.0  # initial learning rate
    momentum: float = 0.0  # SGD momentum
    weight_decay: float = 0.0  # L2 penalty (decoupled for adamw)
    # plateau: lr /= anneal when the valid loss stalls; cosine, linear: decay to 0 by the end of
    # the epochs, max_steps or max_time, whichever comes first
    schedule: Literal["constant", "plateau", "cosine", "linear"] = "plateau"
    anneal: float = 4.0  # divisor of the lr for the plateau schedule
    warmup_steps: int = 0  # linear warm-up steps before the schedule
    clip: float = 0.25  # max global gradient norm (0 disables clipping)
    epochs: int = 40  # passes over the training data (upper bound)
    max_steps: int = 0  # stop after this many optimiser steps (0: no limit)
    max_time: float = 0.0  # stop after this many seconds of training (0: no limit)
    eval_every: int = 0  # validate every N steps (0: at the end of each epoch)
    log_every: int = 50  # write a metrics line every N steps
    bf16: bool = False  # bfloat16 autocast for the forward pass
    compile: bool = False  # torch.compile the model (pays off on long runs only)
    seed: int = 1234  # seeds torch and Python's random
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = 0  # torch intra-op threads on CPU (0: torch's default)


def to_dict(config: Any) -> dict:
    """Return a JSON-ready dict of a (nested) config dataclass."""
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict, base: C | None = None, where: str = "config") -> C:
    """Build a ``cls`` instance from a nested dict, starting from ``base`` (or the defaults).

    Unknown keys are an error that names the closest valid key, so a typo in a config file is
    not silently ignored.
    """
    import difflib

    if not isinstance(data, dict):
        raise SeqkitError(f"{where} must be a table of settings, got {type(data).__name__}")
    current = base if base is not None else cls()
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    changes = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
            raise SeqkitError(f"unknown setting '{where}.{key}'{hint}")
        if dataclasses.is_dataclass(hints[key]):
            value = from_dict(hints[key], value, getattr(current, key), f"{where}.{key}")
        changes[key] = value
    return dataclasses.replace(current, **changes)


def read_config_file(path: str | Path) -> dict:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise SeqkitError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
        if path.suffix == ".json":
            return json.loads(text)
    except Exception as err:  # every parser has its own error type
        raise SeqkitError(f"cannot parse config file {path}: {err}") from err
    raise SeqkitError(f"config file {path} must end in .toml, .yaml, .yml or .json")


def flag_names(cls: type, prefix: str = "") -> list[str]:
    """All ``--a.b`` flags that tyro derives from a (nested) config dataclass."""
    flags = []
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = prefix + field.name
        if dataclasses.is_dataclass(hints[field.name]):
            flags += flag_names(hints[field.name], name + ".")
        else:
            for spelling in {name, name.replace("_", "-")}:
                flags.append("--" + spelling)
                if hints[field.name] is bool:  # tyro's --x / --no-x pair
                    head, _, last = spelling.rpartition(".")
                    flags.append("--" + (head + "." if head else "") + "no-" + last)
    return flags
