"""The Task contract and entry-point discovery.

A plugin exports a ``Task`` value (not a subclass) through the entry-point group
``seqkit.tasks``::

    [project.entry-points."seqkit.tasks"]
    lm = "seqkit_lm:lm_task"

The core finds installed tasks with ``importlib.metadata.entry_points``; it never scans folders
or edits ``sys.path``.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator, Protocol

import torch
from torch import nn

from seqkit.errors import SeqkitError

GROUP = "seqkit.tasks"


class Batches(Protocol):
    """A split of a data set, cut into batches; deterministic for a given epoch number.

    ``meta`` holds facts about the split that evaluation may report (e.g. a perplexity floor).
    """

    meta: dict

    def __len__(self) -> int: ...

    def epoch(self, number: int, start: int = 0) -> Iterator[Any]:
        """Yield the batches of epoch ``number``, skipping the first ``start`` (for resuming)."""
        ...


@dataclass
class TaskData:
    """What ``Task.prepare`` returns: the splits it found and the assets learnt from them."""

    assets: Any  # learnt from the training data and saved with the run (e.g. a tokenizer)
    splits: dict[str, Batches] = field(default_factory=dict)  # "train", "valid", "test"

    def split(self, name: str) -> Batches:
        """Return one split, or fail with the names of the splits this data has."""
        if name not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise SeqkitError(f"the data has no '{name}' split (it has: {have})")
        return self.splits[name]


@dataclass(frozen=True)
class Task:
    """Everything the core needs to train, evaluate, save and serve one kind of model.

    Function signatures (``cfg`` is an instance of ``config``):

    - ``prepare(cfg, source, assets) -> TaskData``: read the data named by ``source`` (a
      ``seqkit.data.Source``); learn assets (tokenizers) from its training split when ``assets``
      is None, otherwise reuse them.
    - ``build_model(cfg, assets) -> nn.Module``.
    - ``loss(model, batch, state) -> (loss, items, state)``: mean loss of one batch, the number
      of items (tokens, frames) it averaged over, and the recurrent state to carry into the next
      batch (None for tasks that do not stream).
    - ``evaluate(model, batches, cfg, assets) -> dict[str, float]``.
    - ``save_assets(assets, folder)`` / ``load_assets(folder) -> assets``.
    - ``predict(run, options) -> str``, where ``options`` is a ``predict_options`` instance.
    - ``demo(run) -> gradio.Blocks``; imports gradio only when called.

    ``select`` names the validation metric (a key of ``evaluate``'s dict) that picks the
    weights a run keeps, and ``select_max`` says whether higher is better: a captioner is kept
    for its captions (CIDEr-D), which need not be best where its loss is lowest.
    """

    name: str
    description: str
    config: type
    prepare: Callable
    build_model: Callable[..., nn.Module]
    loss: Callable[..., tuple[torch.Tensor, int, Any]]
    evaluate: Callable[..., dict]
    save_assets: Callable
    load_assets: Callable
    predict: Callable | None = None
    predict_options: type | None = None
    demo: Callable | None = None
    streams: bool = False  # True: loss carries recurrent state across consecutive batches
    select: str = "loss"  # validation metric that picks the weights kept
    select_max: bool = False  # True: higher ``select`` is better


def installed_tasks() -> dict[str, Any]:
    """Map each installed task name to its (not yet loaded) entry point."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def get_task(name: str) -> Task:
    """Load the task called ``name``, or fail with the list of installed tasks."""
    tasks = installed_tasks()
    if name not in tasks:
        have = ", ".join(sorted(tasks)) or "none (install a plugin, e.g. pip install -e plugins/lm)"
        close = difflib.get_close_matches(name, list(tasks), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SeqkitError(f"unknown task '{name}'.{hint} Installed tasks: {have}")
    task = tasks[name].load()
    if not isinstance(task, Task):
        raise SeqkitError(f"entry point '{name}' in group {GROUP} is not a seqkit.Task")
    return task
