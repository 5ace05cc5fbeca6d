"""An exponential moving average of the weights (``--train.ema DECAY``), kept beside training.

The average is what validation scores and what the run saves as its weights; the optimiser keeps
stepping the raw model. Averaging the last few hundred steps' weights smooths out the noise of
single SGD steps, which is worth most where the data are few and the last steps overfit them.
It is ``torch.optim.swa_utils.AveragedModel`` with a decay that warms up, so that the first
(untrained) weights do not linger: after ``n`` updates the decay is ``min(decay, (1 + n) / (10
+ n))``. Buffers (batch-norm statistics) are averaged too; integer buffers are copied.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_decay(decay: float, updates: int) -> float:
    """The decay of the ``updates``-th update after the first: ``decay``, lower while young."""
    return min(decay, (1 + updates) / (10 + updates))


def weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An EMA of ``model``'s weights and buffers, or None where ``decay`` is 0 (no averaging).

    Call ``update_parameters(model)`` after every optimiser step; ``.module`` is the averaged
    model, a copy of ``model`` on the same device.
    """
    if not decay:
        return None

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates) -> None:
        if torch.is_floating_point(averaged[0]):
            weight = 1.0 - warmed_decay(decay, int(updates))
            torch._foreach_lerp_(averaged, current, weight)
        else:  # step counters and the like: an average means nothing
            for a, c in zip(averaged, current, strict=True):
                a.copy_(c)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)
