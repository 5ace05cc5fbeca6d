"""``fit()``: one readable training loop for every task.

Streaming tasks (language models) are trained with truncated BPTT: each batch is the next
``bptt`` steps of ``B`` parallel streams, the recurrent state is carried from batch to batch
and detached at every boundary (``repackage_state``), so gradients flow back at most one chunk
while the state still sees the whole history. Sequence-to-sequence tasks return no state, and
each padded batch is backpropagated in full.
"""
from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from seqkit import dist
from seqkit.checkpoint import load_checkpoint, save_checkpoint
from seqkit.decoding import map_state
from seqkit.errors import SeqkitError
from seqkit.metrics_log import MetricsLog, plot_curve
from seqkit.optim import Schedule, build_optimizer
from seqkit.rundir import WEIGHTS, save_weights
from seqkit.task import Batches, Task, TaskData


def repackage_state(state: Any) -> Any:
    """Detach a carried recurrent state from the graph of the chunk that produced it.

    The values flow on into the next chunk; the gradient stops here. Without it, backward
    would run through every chunk since the start of the epoch (and fail on the freed graph).
    """
    return map_state(lambda t: t.detach(), state)


def seed_all(seed: int) -> None:
    """Seed torch (all devices) and Python's ``random``."""
    torch.manual_seed(seed)
    random.seed(seed)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on the device's type, or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def evaluate(task: Task, model: nn.Module, batches: Batches, config: Any, assets: Any) -> dict:
    """Run ``task.evaluate`` in eval mode without gradients, then restore the mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(next(model.parameters()).device, config.train.bf16):
            return task.evaluate(model, batches, config, assets)
    finally:
        model.train(was_training)


def _shard(batch: Any) -> Any:
    """This rank's rows of a batch (every tensor is batch-first)."""
    world = dist.world_size()
    return batch if world == 1 else map_state(lambda t: t[dist.rank()::world], batch)


def _to(batch: Any, device: torch.device) -> Any:
    return map_state(lambda t: t.to(device, non_blocking=True), batch)


class Trainer:
    """The state of one ``fit()`` call; ``run()`` is the loop."""

    def __init__(self, task: Task, config: Any, data: TaskData, model: nn.Module, out: Path):
        self.task, self.config, self.data, self.out = task, config, data, out
        self.train_cfg = tc = config.train
        self.device = dist.pick_device(tc.device)
        dist.setup(self.device)
        self.model = model.to(self.device)
        self.train_batches = data.split("train")
        self.valid = data.splits.get("valid")
        self.optimizer = build_optimizer(model, tc)
        budget = tc.epochs * len(self.train_batches)
        self.schedule = Schedule(self.optimizer, tc, min(tc.max_steps or budget, budget))
        self.progress = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "best": math.inf}
        self.carry = None
        self.net = self.model
        if dist.world_size() > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model)
        if tc.compile:
            self.net = torch.compile(self.net)
        self.log = MetricsLog(out / "metrics.jsonl", dist.is_main())

    def resume(self) -> None:
        """Continue from ``out/checkpoint``: weights, optimiser, schedule, RNG, data position."""
        self.progress, carry = load_checkpoint(self.out, self.model, self.optimizer,
                                               self.schedule, self.device)
        self.carry = _to(carry, self.device)

    def step(self, batch: Any) -> tuple[float, int]:
        """One optimiser step on one batch; returns the batch's mean loss and item count."""
        tc = self.train_cfg
        self.carry = repackage_state(self.carry)
        with autocast(self.device, tc.bf16):
            loss, items, self.carry = self.task.loss(self.net, _to(_shard(batch), self.device),
                                                     self.carry)
        if not torch.isfinite(loss):
            raise SeqkitError(f"the loss became {loss.item()} at step {self.progress['step']}; "
                              "lower --train.lr or --train.clip (saved files are untouched)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), tc.clip)
        self.optimizer.step()
        self.schedule.step(self.progress["elapsed"])
        return loss.item(), items

    def validate(self) -> None:
        """Evaluate on the validation split, anneal, keep the best weights, checkpoint."""
        loss = self._evaluate_and_keep_best()
        if loss is not None:
            self.schedule.validated(loss)
        self.checkpoint()

    def _evaluate_and_keep_best(self) -> float | None:
        """Log the validation metrics and save the weights if they are the best so far, by
        the task's ``select`` metric.

        Returns the validation loss (None without a validation split). At an early stop this
        runs alone, leaving the schedule untouched, so that a resumed run follows the same
        trajectory as an uninterrupted one.
        """
        if self.valid is None:
            return None
        metrics = evaluate(self.task, self.model, self.valid, self.config, self.data.assets)
        self.log.write(split="valid", step=self.progress["step"],
                       epoch=self.progress["epoch"], **metrics)
        if self.task.select not in metrics:
            raise SeqkitError(f"task '{self.task.name}' selects weights by '{self.task.select}',"
                              f" which its evaluate() does not report")
        score = metrics[self.task.select] * (-1 if self.task.select_max else 1)  # lower: better
        if score < self.progress["best"]:
            self.progress["best"], self.progress["best_loss"] = score, metrics["loss"]
            if dist.is_main():
                save_weights(self.model, self.out / WEIGHTS)
        return metrics["loss"]

    def checkpoint(self) -> None:
        """Save the resume state (rank 0 only)."""
        if dist.is_main():
            save_checkpoint(self.out, self.model, self.optimizer, self.schedule, self.progress,
                            self.carry)

    def stop_now(self, started: float) -> bool:
        """Whether ``max_steps`` or ``max_time`` is reached."""
        tc, p = self.train_cfg, self.progress
        p["elapsed"] = time.perf_counter() - started
        return bool((tc.max_steps and p["step"] >= tc.max_steps)
                    or (tc.max_time and p["elapsed"] >= tc.max_time))

    def run(self) -> dict:
        """Train until the epochs, ``max_steps`` or ``max_time`` run out."""
        tc, p = self.train_cfg, self.progress
        total = tc.max_steps or tc.epochs * len(self.train_batches)
        bar = tqdm(total=total, initial=p["step"], disable=not dist.is_main(), unit="step",
                   dynamic_ncols=True)
        started = time.perf_counter() - p["elapsed"]
        window = {"loss": 0.0, "items": 0, "time": time.perf_counter()}
        stopped = self.stop_now(started)
        while p["epoch"] < tc.epochs and not stopped:
            for batch in self.train_batches.epoch(p["epoch"], start=p["batch"]):
                loss, items = self.step(batch)
                p["step"] += 1
                p["batch"] += 1
                window["loss"] += loss * items
                window["items"] += items
                bar.update(1)
                if p["step"] % tc.log_every == 0:
                    self._log_window(window, started, bar)
                if tc.eval_every and p["step"] % tc.eval_every == 0:
                    self.validate()
                if stopped := self.stop_now(started):
                    break
            else:  # the epoch ran to its end
                p["epoch"], p["batch"], self.carry = p["epoch"] + 1, 0, None
                if not tc.eval_every:
                    self.validate()
        bar.close()
        if window["items"]:
            self._log_window(window, started, bar)
        if p["batch"]:  # stopped inside an epoch: its last weights were never validated
            self._evaluate_and_keep_best()
        self.checkpoint()
        if math.isinf(p["best"]) and dist.is_main():  # never validated: keep the last weights
            save_weights(self.model, self.out / WEIGHTS)
        if dist.is_main():
            plot_curve(self.log.records(), self.out / "learning_curve.png")
        return {"steps": p["step"], "epochs": p["epoch"], "elapsed_s": round(p["elapsed"], 2),
                "best_valid_loss": p.get("best_loss")}

    def _log_window(self, window: dict, started: float, bar) -> None:
        now = time.perf_counter()
        loss = window["loss"] / max(window["items"], 1)
        rate = window["items"] * dist.world_size() / max(now - window["time"], 1e-9)
        self.log.write(split="train", step=self.progress["step"], epoch=self.progress["epoch"],
                       loss=round(loss, 5), lr=self.schedule.lr, items_per_s=round(rate, 1),
                       elapsed_s=round(now - started, 2))
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.schedule.lr:.3g}")
        window.update(loss=0.0, items=0, time=now)


def fit(task: Task, config: Any, data: TaskData, model: nn.Module, out: Path,
        resume: bool = False) -> dict:
    """Train ``model`` on ``data`` into the run dir ``out``; see the module docstring.

    Seeds torch and Python from ``config.train.seed`` (a resumed run restores the RNG instead);
    seed before building the model too, for reproducible initial weights.
    On Ctrl-C the resume state is saved before the error is raised.
    """
    tc = config.train
    seed_all(tc.seed)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    trainer = Trainer(task, config, data, model, out)
    if resume:
        trainer.resume()
    try:
        return trainer.run()
    except KeyboardInterrupt:
        trainer.checkpoint()
        raise SeqkitError(f"interrupted at step {trainer.progress['step']}; the resume state is "
                          f"saved: continue with --resume --out {out}") from None
