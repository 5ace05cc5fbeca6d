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
    """Learning-rate schedule: linear warm-up, then constant, cosine, or plateau annealing.

    ``step()`` is called after every optimiser step, ``validated(loss)`` after every validation;
    plateau divides the lr by ``anneal`` when the validation loss did not improve.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
        self.optimizer, self.cfg, self.total = optimizer, cfg, max(total_steps, 1)
        self.steps, self.scale, self.best = 0, 1.0, math.inf
        self._apply()

    def _apply(self) -> None:
        warm = min(1.0, (self.steps + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps else 1.0
        factor = self.scale
        if self.cfg.schedule == "cosine":
            done = min(1.0, max(0, self.steps - self.cfg.warmup_steps) / self.total)
            factor = 0.5 * (1 + math.cos(math.pi * done))
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * warm * factor

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        """Advance one optimiser step."""
        self.steps += 1
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
        return {"steps": self.steps, "scale": self.scale, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``."""
        self.steps, self.scale, self.best = state["steps"], state["scale"], state["best"]
        self._apply()
