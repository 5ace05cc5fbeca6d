"""Training configuration; configs to and from dicts and TOML/YAML files; type and range checks.

Each task has its own config dataclass with a ``train: TrainConfig`` field. Command-line overrides
are parsed by tyro (see ``seqkit.cli``); this module converts between dataclasses and plain
dicts so that a config can be written to ``config.json`` and read back, and checks every value.

Declaring the allowed range of a field (any config or options dataclass, plugins included)::

    hidden_size: int = bounded(256, ">= 1")  # units per recurrent layer
    dropout: float = bounded(0.3, "[0, 1)")  # on embeddings and before the output layer

A setting added after runs were saved, with a default that changes what those runs would
build, says what they were trained with, so that they still load as they were::

    keypoints: bool = added(True, before=False)  # runs saved without the key: False

A rule is ``OP NUMBER`` (``>=``, ``>``, ``<=``, ``<``) or an interval such as ``[0, 1)`` or
``(0, 1]``. A rule that spans several fields goes in a ``check(self)`` method that raises
``SeqkitError`` naming the fields. ``validate(config)`` applies the types, the rules and
``check()`` to a config and its nested dataclasses; ``from_dict`` (files, ``config.json``) and
the CLI call it, and ``seqkit.testing.check_config`` checks a plugin's declarations.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import operator
import re
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from seqkit.errors import SeqkitError

C = TypeVar("C")
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _parse_rule(rule: str) -> list[tuple[str, float]]:
    """``">= 1"`` -> ``[(">=", 1.0)]``; ``"[0, 1)"`` -> ``[(">=", 0.0), ("<", 1.0)]``."""
    interval = re.fullmatch(r"\s*([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])\s*", rule)
    try:
        if interval:
            low, high = float(interval[2]), float(interval[3])
            return [(">=" if interval[1] == "[" else ">", low),
                    ("<=" if interval[4] == "]" else "<", high)]
        bound = re.fullmatch(r"\s*(>=|>|<=|<)\s*(\S+)\s*", rule)
        if bound:
            return [(bound[1], float(bound[2]))]
    except ValueError:
        pass
    raise ValueError(f"malformed range rule {rule!r}: use e.g. '>= 1', '> 0' or '[0, 1)'")


def bounded(default: Any, rule: str) -> Any:
    """A dataclass field with ``default`` whose value must satisfy ``rule`` (see the module
    docstring); ``validate`` enforces it."""
    _parse_rule(rule)  # a malformed rule fails when the class is defined, not when used
    return dataclasses.field(default=default, metadata={"range": rule.strip()})


def added(default: Any, before: Any) -> Any:
    """A dataclass field with ``default`` that was added to the config later: a run's saved
    ``config.json`` without it was trained with ``before`` (``saved_defaults``)."""
    return dataclasses.field(default=default, metadata={"before": before})


def saved_defaults(cls: type[C]) -> C:
    """The defaults a saved ``config.json`` is read over: ``cls()``, except that each field
    declared with ``added`` takes its ``before`` value (nested configs too). A saved config
    names every setting its run had, so a missing one is one added since."""
    hints, changes = get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        if "before" in f.metadata:
            changes[f.name] = f.metadata["before"]
        elif dataclasses.is_dataclass(hints[f.name]):
            changes[f.name] = saved_defaults(hints[f.name])
    return dataclasses.replace(cls(), **changes)


def check_range(value: Any, rule: str, name: str) -> None:
    """Raise ``SeqkitError`` naming ``name`` unless the number ``value`` satisfies ``rule``."""
    if not all(_OPS[op](value, bound) for op, bound in _parse_rule(rule)):
        text = f"in {rule}" if rule[0] in "[(" else rule
        raise SeqkitError(f"{name} must be {text}, got {value!r}")


def _number(value: Any, name: str, kind: str) -> int | float:
    """An int or float from a number or its text (YAML reads ``1e-3`` as a string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value.strip())
            except ValueError:
                pass
    raise SeqkitError(f"{name} must be {kind}, got {value!r}")


def _coerce_number(value: Any, hint: type, name: str) -> int | float:
    """An int (a whole float or its text too) or a finite float (an int or text too)."""
    if hint is int:
        number = _number(value, name, "a whole number")
        if isinstance(number, float):
            if not number.is_integer():
                raise SeqkitError(f"{name} must be a whole number, got {value!r}")
            number = int(number)
        return number
    number = float(_number(value, name, "a number"))
    if not math.isfinite(number):
        raise SeqkitError(f"{name} must be a finite number, got {value!r}")
    return number


def coerce(value: Any, hint: Any, name: str) -> Any:
    """Return ``value`` as the type ``hint`` where that is unambiguous (an int for a float, a
    number written as text, a whole float for an int); otherwise raise ``SeqkitError``
    naming ``name``. Floats must be finite."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        choices = get_args(hint)
        if any(value == c and type(value) is type(c) for c in choices):
            return value
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint_text = f"; did you mean '{close[0]}'?" if close else ""
        raise SeqkitError(f"{name} must be one of {', '.join(map(str, choices))}, "
                          f"got {value!r}{hint_text}")
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        for option in options[1:]:
            try:
                return coerce(value, option, name)
            except SeqkitError:
                pass
        return coerce(value, options[0], name)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SeqkitError(f"{name} must be true or false, got {value!r}")
    if hint in (int, float):
        return _coerce_number(value, hint, name)
    if hint is str:
        if isinstance(value, str):
            return value
        raise SeqkitError(f"{name} must be text, got {value!r}")
    if hint is Path and isinstance(value, str):
        return Path(value)
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        args = get_args(hint)
        items = [coerce(v, args[0] if args else Any, f"{name}[{i}]") for i, v in enumerate(value)]
        return origin(items)
    if isinstance(origin or hint, type) and isinstance(value, origin or hint):
        return value
    raise SeqkitError(f"{name} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def validate(config: C, where: str = "", flags: bool = False) -> C:
    """Check (and coerce, see ``coerce``) every field of a config dataclass and of its nested
    ones: its type, its ``bounded`` range, and the class's ``check()`` if it has one.

    Returns the config with coerced values. ``where`` prefixes messages (e.g. a file name);
    ``flags`` names fields as command-line flags (``--max-new``) instead of ``train.lr``.
    """
    return _validate(config, where, flags, prefix="")


def _display(path: str, flags: bool) -> str:
    return "--" + path.replace("_", "-") if flags else path


def _validate(config: C, where: str, flags: bool, prefix: str) -> C:
    hints = get_type_hints(type(config))
    changes = {}
    for field in dataclasses.fields(config):
        if not field.init:
            continue
        path = prefix + field.name
        name = f"{where}: {_display(path, flags)}" if where else _display(path, flags)
        value, hint = getattr(config, field.name), hints[field.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, hint):
                raise SeqkitError(f"{name} must be a table of {hint.__name__} settings, "
                                  f"got {value!r}")
            value = _validate(value, where, flags, path + ".")
        else:
            value = coerce(value, hint, name)
            if "range" in field.metadata:
                check_range(value, field.metadata["range"], name)
        changes[field.name] = value
    config = dataclasses.replace(config, **changes)
    if callable(getattr(config, "check", None)):
        try:
            config.check()
        except SeqkitError as err:
            label = ": ".join(x for x in (where, prefix.rstrip(".")) if x)
            raise SeqkitError(f"{label}: {err}" if label else str(err)) from None
    return config


@dataclass
class TrainConfig:
    """How ``fit()`` trains: optimiser, schedule, BPTT, stopping and logging."""

    batch_size: int = bounded(20, ">= 1")  # sequences per batch (streams: parallel rows)
    # fill each batch up to this many tokens or frames (padding included) instead of a fixed
    # batch_size; 0: use batch_size. For tasks that batch independent examples.
    batch_tokens: int = bounded(0, ">= 0")
    workers: int = bounded(0, ">= 0")  # DataLoader processes that decode, collate (0: in the loop)
    bptt: int = bounded(35, ">= 1")  # truncated-BPTT chunk length in steps, for streaming tasks
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # torch.optim algorithm
    lr: float = bounded(20.0, "> 0")  # initial learning rate
    momentum: float = bounded(0.0, "[0, 1)")  # SGD momentum
    weight_decay: float = bounded(0.0, ">= 0")  # L2 penalty (decoupled for adamw)
    # plateau: lr /= anneal when the valid loss stalls; cosine, linear: decay to 0 by the end of
    # the epochs, max_steps or max_time, whichever comes first
    schedule: Literal["constant", "plateau", "cosine", "linear"] = "plateau"
    anneal: float = bounded(4.0, ">= 1")  # divisor of the lr for the plateau schedule
    warmup_steps: int = bounded(0, ">= 0")  # linear warm-up steps before the schedule
    clip: float = bounded(0.25, ">= 0")  # max global gradient norm (0 disables clipping)
    # validate and keep an exponential moving average of the weights with this decay (e.g.
    # 0.999: about the last 1,000 steps); 0: the weights as they are
    ema: float = bounded(0.0, "[0, 1)")
    epochs: int = bounded(40, ">= 1")  # passes over the training data (upper bound)
    max_steps: int = bounded(0, ">= 0")  # stop after this many optimiser steps (0: no limit)
    max_time: float = bounded(0.0, ">= 0")  # stop after this many seconds of training (0: none)
    eval_every: int = bounded(0, ">= 0")  # validate every N steps (0: at the end of each epoch)
    log_every: int = bounded(50, ">= 1")  # write a metrics line every N steps
    # bfloat16 autocast for the forward pass, where the device has it natively (a CPU with
    # AVX-512 BF16 or AMX, a GPU); elsewhere training says so and runs in float32
    bf16: bool = False
    compile: bool = False  # torch.compile the model (pays off on long runs only)
    seed: int = bounded(1234, ">= 0")  # seeds torch and Python's random
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = bounded(0, ">= 0")  # CPU intra-op threads (0: by seqkit.threads)

    def check(self) -> None:
        """The device must be a name torch knows (or auto)."""
        if self.device == "auto":
            return
        import torch

        try:
            torch.device(self.device)
        except (RuntimeError, ValueError):
            raise SeqkitError(f"device must be auto, cpu, cuda or cuda:N, "
                              f"got {self.device!r}") from None


def to_dict(config: Any) -> dict:
    """Return a JSON-ready dict of a (nested) config dataclass."""
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict, base: C | None = None, where: str = "") -> C:
    """Build a ``cls`` instance from a nested dict, starting from ``base`` (or the defaults),
    and ``validate`` it; ``where`` (e.g. a file name) prefixes error messages.

    Unknown keys are an error that names the closest valid key, so a typo in a config file is
    not silently ignored; a value of the wrong type or out of range names its field.
    """
    return validate(_merge(cls, data, base, where, ""), where)


def _merge(cls: type[C], data: Any, base: C | None, where: str, prefix: str) -> C:
    label = f"{where}: " if where else ""
    if not isinstance(data, dict):
        what = f"'{prefix.rstrip('.')}'" if prefix else "the config"
        raise SeqkitError(f"{label}{what} must be a table of settings, got {data!r:.60}")
    current = base if base is not None else cls()
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    changes = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = (f"; did you mean '{prefix}{close[0]}'?" if close
                    else f"; valid keys: {', '.join(names)}")
            raise SeqkitError(f"{label}unknown setting '{prefix}{key}'{hint}")
        if dataclasses.is_dataclass(hints[key]):
            value = _merge(hints[key], value, getattr(current, key), where, f"{prefix}{key}.")
        else:
            value = coerce(value, hints[key], f"{label}{prefix}{key}")
        changes[key] = value
    return dataclasses.replace(current, **changes)


def read_config_file(path: str | Path) -> dict:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise SeqkitError(f"config file {path} does not exist")
    if path.suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise SeqkitError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # every parser has its own error type (and bytes are not UTF-8)
        raise SeqkitError(f"cannot parse config file {path}: {err}") from err
    if data is None:  # an empty YAML file
        return {}
    if not isinstance(data, dict):
        raise SeqkitError(f"config file {path} must hold a table of settings, "
                          f"not a {type(data).__name__}")
    return data
