"""The jobs behind the CLI, callable from Python too: train a run dir, evaluate one."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from seqkit import dist
from seqkit.checkpoint import has_checkpoint
from seqkit.config import to_dict, validate
from seqkit.data import Source, parse_source
from seqkit.errors import SeqkitError
from seqkit.metrics_log import MetricsLog
from seqkit.rundir import (METRICS, is_leftover, load, read_config, save_run, saved_config,
                           write_config, write_json)
from seqkit.task import Task, TaskData
from seqkit.train import bf16_native, evaluate, fit, seed_all


def train(task: Task, config: Any, source: Source | None, out: str | Path,
          resume: bool = False, quiet: bool = False) -> dict:
    """Train ``task`` on ``source`` into the run dir ``out`` and evaluate the best weights.

    A fresh run refuses a folder that already holds a run (so nothing is overwritten); a
    resumed one checks that the folder holds a run of the same task, format and model
    settings; one that stopped before its first checkpoint (a failure or a kill in its first
    minutes) is started over from step 0 instead, so no run folder is a dead end. ``source``
    None means the built-in data for a new run, and the data the run recorded for a resumed
    one. Returns the final metrics, which are also written to ``out/metrics.json``.
    """
    out = Path(out)
    config = validate(config)
    dist.setup(dist.pick_device(config.train.device))  # under torchrun: join the group now
    restart = False
    if resume:
        recorded = _check_resumable(out, task, config).get("data")
        if source is None and recorded is not None:
            source = recorded_source(out)
            _say(quiet, f"resuming on the run's own data: {source}")
        restart = _never_saved(out)
        if restart:  # it failed or was killed before its first checkpoint: nothing to keep
            _say(quiet, f"{out} stopped before its first checkpoint: starting it over from "
                        "step 0 with its own settings")
    elif (out / "config.json").exists():
        raise SeqkitError(f"{out} already holds a run; continue it with --resume, or choose "
                          "another --out")
    elif out.is_dir() and any(not is_leftover(p) for p in out.iterdir()):
        raise SeqkitError(f"{out} is a folder with files in it but not a seqkit run; nothing "
                          "was changed there. Choose a new or empty --out")
    resume = resume and not restart
    assets = task.load_assets(out) if resume else None
    source = source or Source("builtin")
    data: TaskData = task.prepare(config, source, assets)
    if config.train.bf16 and not bf16_native(dist.pick_device(config.train.device)):
        _say(quiet, "bf16 asked for, but this machine has no native bfloat16 (a CPU needs "
                    "AVX-512 BF16 or AMX): training in float32")
    seed_all(config.train.seed)
    model = task.build_model(config, data.assets)
    dist.barrier()  # every rank has looked at the folder before rank 0 writes to it
    if dist.is_main():
        out.mkdir(parents=True, exist_ok=True)
        if resume:  # records changed budgets such as --max-steps
            write_config(out, task, config, source.spec())
        else:
            if restart:  # the log of the attempt that is started over
                (out / "metrics.jsonl").unlink(missing_ok=True)
            save_run(out, task, config, model, data.assets, source.spec())
    summary = fit(task, config, data, model, out, resume=resume)
    dist.barrier()  # rank 0 has written the weights that every rank evaluates
    metrics = {**summary, **final_metrics(out, data, config)}
    if dist.is_main():
        write_json(out / METRICS, metrics)
    if not quiet and dist.is_main():
        print(metrics_line(metrics))
    return metrics


def _never_saved(out: Path) -> bool:
    """Whether a run stopped before its first checkpoint was complete: it has no checkpoint, no
    final metrics, and at most one validation in its log (every validation is followed by a
    checkpoint, so a kill can fall between the first one and its checkpoint; starting over
    recomputes the same weights). A run whose checkpoint was deleted later, or a finished one,
    is not started over: its trained weights are kept."""
    if has_checkpoint(out) or (out / METRICS).exists():
        return False
    try:
        records = MetricsLog(out / "metrics.jsonl", False).records()
    except SeqkitError:  # a damaged log: leave the decision to the user
        return False
    return sum(r.get("split") == "valid" for r in records) <= 1


def _say(quiet: bool, text: str) -> None:
    if not quiet and dist.is_main():
        print(text)


def _check_resumable(out: Path, task: Task, config: Any) -> dict:
    """Refuse, before anything is written, to resume a run with settings that would build
    another model: every setting outside ``train`` must be the run's own. Returns the run's
    ``config.json``."""
    meta = read_config(out, task.name)
    # as the run loads: a setting added since it was saved takes the value it had
    saved = json.loads(json.dumps(to_dict(saved_config(task, meta, str(out / "config.json")))))
    wanted = json.loads(json.dumps(to_dict(config)))  # as config.json holds it (lists)
    changed = sorted(key for key in wanted if key != "train" and wanted[key] != saved.get(key))
    if changed:
        listed = ", ".join(f"{key} ({saved.get(key)!r} -> {wanted[key]!r})" for key in changed)
        raise SeqkitError(f"--resume cannot change the settings that make the model: {listed}. "
                          "Resume with the run's own settings (only train.* may change), or "
                          "start a new run with another --out")
    return meta


def metrics_line(metrics: dict) -> str:
    """Metrics as one JSON line for people to read: floats to 4 decimals (``metrics.json``
    keeps them whole)."""
    return json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})


def final_metrics(out: Path, data: TaskData, config: Any) -> dict:
    """Evaluate the saved (best) weights on every held-out split the data has, on the device
    that trained them."""
    run = load(out, dist.pick_device(config.train.device))
    metrics = {}
    for split in ("valid", "test"):
        if split in data.splits:
            result = evaluate(run.task, run.model, data.splits[split], config, run.assets)
            metrics.update({f"{split}_{k}": v for k, v in result.items()})
    return metrics


def _run_device(config: dict) -> torch.device:
    """The device a run was trained on (``train.device``), or the CPU where this machine has
    no such GPU (a run trained on a GPU, scored on a laptop)."""
    device = dist.pick_device(config.get("train", {}).get("device", "auto"))
    return device if device.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")


def recorded_source(path: str | Path) -> Source:
    """The data a run dir was trained on, as its ``config.json`` records it (the built-in data
    for a run that records none)."""
    recorded = read_config(path).get("data")
    if recorded is None:
        return Source("builtin")
    try:
        return parse_source(recorded)
    except SeqkitError:
        raise SeqkitError(f"{path} was trained on {recorded}, which is not there any more; give "
                          "--data with the data to use instead") from None


def evaluate_run(path: str | Path, source: Source | None, split: str | None = None) -> dict:
    """Evaluate a run dir on ``source`` (None: the data it was trained on), on the run's
    training device (``train.device``).

    ``split`` is valid, test, all or whole; by default test when the data has it, else valid.
    With "all", every split the data has is evaluated and its metrics are prefixed by its name.
    With "whole", every example of the source is scored as one set, whatever its file names
    say about splits (the task's ``prepare`` reads ``Source.whole``).
    """
    run = load(path, _run_device(read_config(path)["config"]))
    source = recorded_source(path) if source is None else source
    if split == "whole":
        source = dataclasses.replace(source, whole=True)
    data = run.task.prepare(run.config, source, run.assets)
    if split == "whole" and set(data.splits) != {"whole"}:
        raise SeqkitError(f"task '{run.task.name}' does not support --split whole yet (its "
                          f"data came back as splits {sorted(data.splits)}); use --split all")
    if split is None:
        split = next((s for s in ("test", "valid") if s in data.splits), "train")
    if split != "all":
        return evaluate(run.task, run.model, data.split(split), run.config, run.assets)
    result = {}
    for name in data.splits:
        for key, value in evaluate(run.task, run.model, data.splits[name], run.config,
                                   run.assets).items():
            result[f"{name}_{key}"] = value
    return result
