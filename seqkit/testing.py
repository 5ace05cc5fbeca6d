"""Contract checks that every plugin's tests call::

    from seqkit.testing import check_task
    def test_contract(tmp_path):
        check_task(my_task, tiny_config, tmp_path)
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from pathlib import Path
from typing import Any, get_type_hints

import torch

from seqkit.config import TrainConfig, validate
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.rundir import load, save_run
from seqkit.task import Task, installed_tasks


def check_config(config_cls: type, every_number_bounded: bool = False) -> None:
    """A config is a default-constructible dataclass with ``train: TrainConfig``, a comment on
    every field, and range declarations (``seqkit.config.bounded``) that its defaults satisfy.

    ``every_number_bounded``: also require a range on every int and float field, nested ones
    included (TrainConfig's are).
    """
    assert dataclasses.is_dataclass(config_cls), f"{config_cls} is not a dataclass"
    config = config_cls()
    assert isinstance(config.train, TrainConfig), "the config needs a train: TrainConfig field"
    _check_fields(config_cls, every_number_bounded)


def check_options(options_cls: type, every_number_bounded: bool = False) -> None:
    """A task's ``predict_options``: a default-constructible dataclass with a comment on every
    field and range declarations that its defaults satisfy (``seqkit predict`` enforces them)."""
    assert dataclasses.is_dataclass(options_cls), f"{options_cls} is not a dataclass"
    _check_fields(options_cls, every_number_bounded)


def _check_fields(cls: type, every_number_bounded: bool) -> None:
    """Comments, well-placed range rules, and defaults that pass ``validate``."""
    _check_comments(cls)
    try:
        validate(cls())
    except SeqkitError as err:
        raise AssertionError(f"the defaults of {cls.__name__} fail their own checks: {err}")
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            _check_fields(hint, every_number_bounded)
        elif "range" in field.metadata:
            assert hint in (int, float), (f"{cls.__name__}.{field.name} declares a range but "
                                          f"is not an int or float")
        elif every_number_bounded and hint in (int, float):
            raise AssertionError(f"{cls.__name__}.{field.name} declares no range: "
                                 "use seqkit.config.bounded(default, rule)")


def _check_comments(cls: type) -> None:
    """Every field has a comment: on its line, on the lines up to the next field, or just
    above it."""
    lines = [ln.strip() for c in cls.__mro__ if dataclasses.is_dataclass(c)
             for ln in inspect.getsource(c).splitlines()]
    names = [f.name for f in dataclasses.fields(cls)]
    for name in names:
        start = next((i for i, ln in enumerate(lines) if ln.startswith(f"{name}:")), None)
        assert start is not None, f"config field '{name}' not found in the source"
        end = next((i for i in range(start + 1, len(lines))
                    if not lines[i] or any(lines[i].startswith(f"{n}:") for n in names)),
                   len(lines))
        above = start > 0 and lines[start - 1].startswith("#")
        assert above or any("#" in ln for ln in lines[start:end]), \
            f"config field '{name}' has no comment"


def check_task(task: Task, config: Any, tmp_path: Path, source: Source = Source("builtin")) -> None:
    """Check a task end to end at a tiny size: discovery, data, model, loss, gradients,
    evaluation, and a run dir that reloads to the same outputs."""
    assert isinstance(task, Task)
    assert task.name in installed_tasks(), f"'{task.name}' is not in the seqkit.tasks entry points"
    check_config(task.config)
    if task.predict_options is not None:
        check_options(task.predict_options)
    data = task.prepare(config, source, None)
    batch = next(iter(data.split("train").epoch(0)))
    model = task.build_model(config, data.assets)
    loss, items, state = task.loss(model, batch, None)
    assert loss.dim() == 0 and math.isfinite(loss.item()), f"loss is not a finite scalar: {loss}"
    assert items > 0, "loss must report how many items it averaged over"
    assert (state is not None) == task.streams, "only streaming tasks return a state"
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no gradient reached the model"
    held_out = data.splits.get("valid") or data.split("train")
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model, held_out, config, data.assets)
    assert isinstance(metrics.get("loss"), float), "evaluate must return a float 'loss'"
    save_run(tmp_path, task, config, model, data.assets)
    run = load(tmp_path)
    with torch.no_grad():
        again = task.evaluate(run.model, held_out, config, run.assets)
    assert math.isclose(metrics["loss"], again["loss"], rel_tol=1e-5), "reloaded model differs"
