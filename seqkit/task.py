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
from pathlib import Path
from typing import Any, Iterator, Protocol

from torch import Tensor, nn

from seqkit.data import Source
from seqkit.errors import SeqkitError

GROUP = "seqkit.tasks"


class Batches(Protocol):
    """A split of a data set, cut into batches; deterministic for a given epoch number.

    ``facts`` holds numbers about the split that evaluation reports beside its metrics (e.g. a
    perplexity floor); ``context`` is the plugin's own object for its ``evaluate`` (e.g. the
    reference captions), typed by the plugin and never read by the core.
    """

    facts: dict[str, float]
    context: Any

    def __len__(self) -> int: ...

    def epoch(self, number: int, start: int = 0, rank: int = 0, world: int = 1) -> Iterator[Any]:
        """Yield the batches of epoch ``number``, skipping the first ``start`` (for resuming);
        under DDP, only rank ``rank``'s share of each batch out of ``world`` (never empty)."""
        ...


class Prepare(Protocol):
    """``prepare(config, source, assets) -> TaskData``: read the data named by ``source``, learn
    the assets (tokenizers) from its training split when ``assets`` is None, else reuse them.
    With ``source.whole`` it returns one split named ``"whole"`` holding every example."""

    def __call__(self, config: Any, source: Source, assets: Any, /) -> "TaskData": ...


class BuildModel(Protocol):
    """``build_model(config, assets) -> nn.Module``."""

    def __call__(self, config: Any, assets: Any, /) -> nn.Module: ...


class Loss(Protocol):
    """``loss(model, batch, state) -> (loss, items, state)``: the mean loss of one batch (a
    0-dim tensor), the number of items (tokens, frames) it averaged over, and the recurrent state
    to carry into the next batch (None for tasks that do not stream)."""

    def __call__(self, model: nn.Module, batch: Any, state: Any, /) -> tuple[Tensor, int, Any]: ...


class Evaluate(Protocol):
    """``evaluate(model, batches, config, assets) -> metrics``; runs under ``no_grad``."""

    def __call__(self, model: nn.Module, batches: Batches, config: Any,
                 assets: Any, /) -> dict[str, float]: ...


class SaveAssets(Protocol):
    """``save_assets(assets, folder)``: write the assets beside the weights."""

    def __call__(self, assets: Any, folder: Path, /) -> None: ...


class LoadAssets(Protocol):
    """``load_assets(folder) -> assets``: read what ``save_assets`` wrote."""

    def __call__(self, folder: Path, /) -> Any: ...


class Predict(Protocol):
    """``predict(run, options) -> str``, ``options`` an instance of ``Task.predict_options``."""

    def __call__(self, run: Any, options: Any, /) -> str: ...


class Demo(Protocol):
    """``demo(run) -> gradio.Blocks``; imports gradio only when called."""

    def __call__(self, run: Any, /) -> Any: ...


class LossFloor(Protocol):
    """``loss_floor(valid_metrics) -> float | None``: the lowest loss (nats per item) any model
    can reach on that data, drawn as a reference line on the learning curve; None: none known."""

    def __call__(self, metrics: dict[str, float], /) -> float | None: ...


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

    The callables' signatures are the Protocols above (``Prepare``, ``Loss``, ...).

    ``select`` names the validation metric (a key of ``evaluate``'s dict) that picks the
    weights a run keeps, and ``select_max`` says whether higher is better: a captioner is kept
    for its captions (CIDEr-D), which need not be best where its loss is lowest.
    """

    name: str
    description: str
    config: type
    prepare: Prepare
    build_model: BuildModel
    loss: Loss
    evaluate: Evaluate
    save_assets: SaveAssets
    load_assets: LoadAssets
    predict: Predict | None = None
    predict_options: type | None = None
    demo: Demo | None = None
    streams: bool = False  # True: loss carries recurrent state across consecutive batches
    select: str = "loss"  # validation metric that picks the weights kept
    select_max: bool = False  # True: higher ``select`` is better
    loss_floor: LossFloor | None = None  # reference line of the learning curve


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
    try:
        task = tasks[name].load()
    except Exception as err:  # a plugin's import can fail in any way
        raise SeqkitError(f"task '{name}' is installed but fails to load ({type(err).__name__}: "
                          f"{err}); reinstall or remove the package that provides it") from err
    if not isinstance(task, Task):
        raise SeqkitError(f"entry point '{name}' in group {GROUP} ({tasks[name].value}, a "
                          f"{type(task).__name__}) is not a seqkit.Task")
    return task
