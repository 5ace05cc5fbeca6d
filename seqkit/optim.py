"""Optimiser and learning-rate schedule from a ``TrainConfig``."""
from __future__ import annotations

import math

import torch
from torch import nn

from seqkit.config import TrainConfig

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser the config names, over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    extra = {"momentum": cfg.momentum} if cfg.optimizer == "sgd" else {}
    return _OPTIMIZERS[cfg.optimizer](params, lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)


class Schedule:
    """Learning-rate schedule: linear warm-up, then constant, plateau, cosine or linear decay.

    ``step(elapsed)`` is called after every optimiser step, ``validated(loss)`` after every
    validation. Plateau divides the lr by ``anneal`` when the validation loss did not improve.
    Cosine and linear decay to zero over the run's budget: the fraction done is the larger of
    the steps taken out of ``total_steps`` and, with ``max_time``, the seconds trained out of
    ``max_time``, so a run cut by its time limit still ends annealed. A run resumed with a
    larger budget follows the new budget (its lr rises again).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
        self.optimizer, self.cfg, self.total = optimizer, cfg, max(total_steps, 1)
        self.steps, self.scale, self.best, self.done = 0, 1.0, math.inf, 0.0
        self._apply()

    def _apply(self) -> None:
        warm = min(1.0, (self.steps + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps else 1.0
        factor = self.scale
        if self.cfg.schedule == "cosine":
            factor = 0.5 * (1 + math.cos(math.pi * self.done))
        elif self.cfg.schedule == "linear":
            factor = 1.0 - self.done
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * warm * factor

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self.optimizer.param_groups[0]["lr"]

    def step(self, elapsed: float = 0.0) -> None:
        """Advance one optimiser step, taken ``elapsed`` seconds into training."""
        self.steps += 1
        done = max(0, self.steps - self.cfg.warmup_steps) / self.total
        if self.cfg.max_time:
            done = max(done, elapsed / self.cfg.max_time)
        self.done = min(1.0, done)
        self._apply()

    def validated(self, loss: float) -> None:
        """Record a validation loss; anneal on a plateau."""
        if loss < self.best:
            self.best = loss
        elif self.cfg.schedule == "plateau":
            self.scale /= self.cfg.anneal
        self._apply()

    def state_dict(self) -> dict:
        """What resuming needs."""
        return {"steps": self.steps, "scale": self.scale, "best": self.best, "done": self.done}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``."""
        self.steps, self.scale, self.best = state["steps"], state["scale"], state["best"]
        self.done = state.get("done", 0.0)
        self._apply()
