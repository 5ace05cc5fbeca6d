"""``fit()``: one readable training loop for every task.

Streaming tasks (language models) are trained with truncated BPTT: each batch is the next
``bptt`` steps of ``B`` parallel streams, the recurrent state is carried from batch to batch
and detached at every boundary (``repackage_state``), so gradients flow back at most one chunk
while the state still sees the whole history. Sequence-to-sequence tasks return no state, and
each padded batch is backpropagated in full.
"""
from __future__ import annotations

import dataclasses
import math
import random
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from seqkit import dist
from seqkit.averaging import weight_average
from seqkit.checkpoint import load_checkpoint, save_checkpoint
from seqkit.decoding import map_state
from seqkit.errors import SeqkitError
from seqkit.metrics_log import MetricsLog, plot_curve
from seqkit.optim import Schedule, build_optimizer
from seqkit.rundir import WEIGHTS, save_weights
from seqkit.task import Batches, Loss, Task, TaskData
from seqkit.threads import set_threads


@dataclass
class Progress:
    """Where a run stands; saved in the checkpoint so that ``--resume`` continues from it."""

    step: int = 0  # optimiser steps taken
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    elapsed: float = 0.0  # seconds of training
    best: float = math.inf  # best validation score so far (lower is better; sign-flipped)
    best_loss: float | None = None  # validation loss of the best weights

    def to_dict(self) -> dict:
        """Plain types, for ``state.pt`` (read back with ``weights_only=True``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Progress":
        """Read ``to_dict()`` (or an older checkpoint's progress dict, which has the same keys)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or not {"step", "epoch", "batch"} <= set(data) \
                or not set(data) <= names:
            raise SeqkitError(f"the checkpoint's training progress ({data!r:.200}) is not one "
                              "this seqkit can resume; start a new run (without --resume)")
        return cls(**data)


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


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a GPU that supports it, or a CPU
    whose oneDNN has bf16 kernels (AVX-512 BF16 or AMX). Elsewhere (an AVX2-only CPU) bf16 is
    emulated, slower than float32, and oneDNN's fused LSTM/GRU refuse it outright."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return True


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on the device's type where it runs natively (``bf16_native``), else
    nothing."""
    if enabled and bf16_native(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def evaluate(task: Task, model: nn.Module, batches: Batches, config: Any, assets: Any) -> dict:
    """Run ``task.evaluate`` in eval mode without gradients, then restore the mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(next(model.parameters()).device, config.train.bf16):
            return task.evaluate(model, batches, config, assets)
    finally:
        model.train(was_training)


def stream_evaluate(loss: Loss, model: nn.Module, batches: Batches) -> dict[str, float]:
    """The evaluation loop of a streaming task: one pass over ``batches`` in order, carrying
    the recurrent state from chunk to chunk as training does.

    Returns ``{"loss": mean loss per item, "items": count}``; call it inside ``evaluate`` (no
    gradients; the task's ``evaluate`` adds its own metrics, e.g. a perplexity).
    """
    total, count, state = 0.0, 0, None
    device = next(model.parameters()).device
    for batch in batches.epoch(0):
        value, items, state = loss(model, _to(batch, device), state)
        total, count = total + value.item() * items, count + items
    return {"loss": total / max(count, 1), "items": float(count)}


def _to(batch: Any, device: torch.device) -> Any:
    return map_state(lambda t: t.to(device, non_blocking=True), batch)


def _epoch(batches: Batches, number: int, start: int):
    """This rank's batches of an epoch (whole batches outside DDP)."""
    if dist.world_size() == 1:
        return batches.epoch(number, start=start)
    return batches.epoch(number, start=start, rank=dist.rank(), world=dist.world_size())


@contextmanager
def _sigterm_stops(trainer: "Trainer"):
    """While training, SIGTERM asks the loop to stop at the next step boundary (where the
    saved state is exact) instead of killing the process; the old handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def request_stop(signum, frame):
        trainer.stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    """The state of one ``fit()`` call; ``run()`` is the loop.

    Besides every validation, the resume state is saved every ``checkpoint_every`` seconds, so
    a killed run loses at most that much work.
    """

    checkpoint_every = 300.0  # seconds between time-based checkpoints

    def __init__(self, task: Task, config: Any, data: TaskData, model: nn.Module, out: Path):
        self.task, self.config, self.data, self.out = task, config, data, out
        self.train_cfg = tc = config.train
        self.device = dist.pick_device(tc.device)
        dist.setup(self.device)
        self.model = model.to(self.device)
        self.train_batches = data.split("train")
        self.valid = data.splits.get("valid")
        self.optimizer = build_optimizer(model, tc)
        self.average = weight_average(self.model, tc.ema)  # None without --train.ema
        budget = tc.epochs * len(self.train_batches)
        self.schedule = Schedule(self.optimizer, tc, min(tc.max_steps or budget, budget))
        self.progress = Progress()
        self.carry = None
        self.net = self.model
        if dist.world_size() > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model)
        if tc.compile:
            self.net = torch.compile(self.net)
        self.log = MetricsLog(out / "metrics.jsonl", dist.is_main())
        self.saved_at = time.perf_counter()
        self.stop_requested = False  # set by SIGTERM: save and stop at the next step boundary

    def resume(self) -> None:
        """Continue from ``out/checkpoint``: weights, optimiser, schedule, RNG, data position."""
        progress, carry = load_checkpoint(self.out, self.model, self.optimizer, self.schedule,
                                          self.device, self.average)
        self.progress = Progress.from_dict(progress)
        self.carry = _to(carry, self.device)

    def step(self, batch: Any) -> tuple[float, int]:
        """One optimiser step on this rank's share of a batch; returns its mean loss and item
        count."""
        tc = self.train_cfg
        self.carry = repackage_state(self.carry)
        with autocast(self.device, tc.bf16):
            loss, items, self.carry = self.task.loss(self.net, _to(batch, self.device), self.carry)
        if not torch.isfinite(loss):
            raise self.diverged(f"the loss became {loss.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), tc.clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.schedule.step(self.progress.elapsed)
        return loss.item(), items

    @property
    def kept(self) -> nn.Module:
        """The model that validation scores and the run keeps: the weight average, or the
        model itself without one."""
        return self.model if self.average is None else self.average.module

    def validate(self) -> None:
        """Evaluate on the validation split, anneal, keep the best weights, checkpoint."""
        loss = self._evaluate_and_keep_best()
        if loss is not None:
            self.schedule.validated(loss)
        self.checkpoint()

    def _evaluate_and_keep_best(self) -> float | None:
        """Log the validation metrics and save the weights if they are the best so far, by
        the task's ``select`` metric, and on a tie by the validation loss: on a small
        validation set an error rate reaches its floor (often 0) early, and without the
        tie-break the first, least trained weights to reach it would be kept.

        Returns the validation loss (None without a validation split). At an early stop this
        runs alone, leaving the schedule untouched, so that a resumed run follows the same
        trajectory as an uninterrupted one.
        """
        if self.valid is None:
            return None
        self.refuse_diverged()
        metrics = evaluate(self.task, self.kept, self.valid, self.config, self.data.assets)
        self.log.write(split="valid", step=self.progress.step, epoch=self.progress.epoch,
                       **metrics)
        if self.task.select not in metrics:
            raise SeqkitError(f"task '{self.task.name}' selects weights by '{self.task.select}',"
                              f" which its evaluate() does not report")
        score = metrics[self.task.select] * (-1 if self.task.select_max else 1)  # lower: better
        p = self.progress
        best_loss = math.inf if p.best_loss is None else p.best_loss
        if score < p.best or (score == p.best and metrics["loss"] < best_loss):
            p.best, p.best_loss = score, metrics["loss"]
            self.refuse_diverged()
            if dist.is_main():
                save_weights(self.kept, self.out / WEIGHTS)
        return metrics["loss"]

    def diverged(self, what: str) -> SeqkitError:
        """The error that stops a diverged run (nothing is saved after it)."""
        return SeqkitError(f"{what} at step {self.progress.step}: training diverged and stopped; "
                           "the run's saved weights and resume state are those from before. "
                           "Lower --train.lr (or set --train.clip) and train again; --resume "
                           "continues from the last checkpoint")

    def refuse_diverged(self) -> None:
        """Raise ``diverged`` instead of saving weights that hold inf or NaN (a step that blew
        up between two loss checks), so that no file on disk is replaced by them."""
        models = {id(m): m for m in (self.model, self.kept)}.values()  # one without an average
        if not all(bool(torch.isfinite(p).all()) for m in models for p in m.parameters()):
            raise self.diverged("the weights became inf or NaN")

    def checkpoint(self) -> None:
        """Save the resume state (rank 0 only)."""
        self.saved_at = time.perf_counter()
        self.refuse_diverged()
        if dist.is_main():
            save_checkpoint(self.out, self.model, self.optimizer, self.schedule,
                            self.progress.to_dict(), self.carry, self.average)

    def stop_now(self, started: float) -> bool:
        """Whether ``max_steps`` or ``max_time`` is reached."""
        tc, p = self.train_cfg, self.progress
        p.elapsed = time.perf_counter() - started
        return bool((tc.max_steps and p.step >= tc.max_steps)
                    or (tc.max_time and p.elapsed >= tc.max_time))

    def run(self) -> dict:
        """Train until the epochs, ``max_steps`` or ``max_time`` run out."""
        tc, p = self.train_cfg, self.progress
        total = tc.max_steps or tc.epochs * len(self.train_batches)
        bar = tqdm(total=total, initial=p.step, disable=not dist.is_main(), unit="step",
                   dynamic_ncols=True)
        started = time.perf_counter() - p.elapsed
        window = {"loss": 0.0, "items": 0, "time": time.perf_counter()}
        stopped = self.stop_now(started)
        while p.epoch < tc.epochs and not stopped:
            for batch in _epoch(self.train_batches, p.epoch, p.batch):
                loss, items = self.step(batch)
                p.step += 1
                p.batch += 1
                window["loss"] += loss * items
                window["items"] += items
                bar.update(1)
                if p.step % tc.log_every == 0:
                    self._log_window(window, started, bar)
                if tc.eval_every and p.step % tc.eval_every == 0:
                    self.validate()
                if stopped := self.stop_now(started):
                    break
                if self.stop_requested:
                    raise KeyboardInterrupt  # fit() saves the state at this step boundary
                if time.perf_counter() - self.saved_at >= self.checkpoint_every:
                    self.checkpoint()
            else:  # the epoch ran to its end
                p.epoch, p.batch, self.carry = p.epoch + 1, 0, None
                if not tc.eval_every:
                    self.validate()
        bar.close()
        if window["items"]:
            self._log_window(window, started, bar)
        if p.batch:  # stopped inside an epoch: its last weights were never validated
            self._evaluate_and_keep_best()
        self.checkpoint()
        if math.isinf(p.best) and dist.is_main():  # never validated: keep the last weights
            save_weights(self.kept, self.out / WEIGHTS)
        if dist.is_main():
            plot_curve(self.log.records(), self.out / "learning_curve.png", self.task.loss_floor)
        return {"steps": p.step, "epochs": p.epoch, "elapsed_s": round(p.elapsed, 2),
                "best_valid_loss": p.best_loss}

    def _log_window(self, window: dict, started: float, bar) -> None:
        now = time.perf_counter()
        loss = window["loss"] / max(window["items"], 1)
        rate = window["items"] * dist.world_size() / max(now - window["time"], 1e-9)
        self.log.write(split="train", step=self.progress.step, epoch=self.progress.epoch,
                       loss=round(loss, 5), lr=self.schedule.lr, items_per_s=round(rate, 1),
                       elapsed_s=round(now - started, 2))
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.schedule.lr:.3g}")
        window.update(loss=0.0, items=0, time=now)


def fit(task: Task, config: Any, data: TaskData, model: nn.Module, out: Path,
        resume: bool = False) -> dict:
    """Train ``model`` on ``data`` into the run dir ``out``; see the module docstring.

    Seeds torch and Python from ``config.train.seed`` (a resumed run restores the RNG instead);
    seed before building the model too, for reproducible initial weights.
    On Ctrl-C, or SIGTERM (``kill``, a batch scheduler's stop), the resume state is saved
    before the error is raised.
    """
    tc = config.train
    seed_all(tc.seed)
    set_threads(tc.threads)  # 0: seqkit.threads' rule (1 on a 2-core machine)
    trainer = Trainer(task, config, data, model, out)
    if resume:
        trainer.resume()
    try:
        with _sigterm_stops(trainer):
            return trainer.run()
    except KeyboardInterrupt:
        trainer.checkpoint()
        raise SeqkitError(f"interrupted at step {trainer.progress.step}; the resume state is "
                          f"saved: continue with seqkit train --task {task.name} --out {out} "
                          "--resume (it reads the run's own data)") from None
