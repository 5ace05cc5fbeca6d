"""Per-step classifiers over encoder features: frame tags (video) and CTC (speech)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.encoder import Memory
from seqkit.errors import SeqkitError


class StepClassifier(nn.Module):
    """``Memory.features (B, S, H)`` -> logits ``(B, S, C)``, one class per step."""

    def __init__(self, input_size: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.classify = nn.Linear(input_size, num_classes)

    def forward(self, memory: Memory) -> torch.Tensor:
        """Classify every step; padded steps get logits too (mask them in the loss)."""
        return self.classify(self.drop(memory.features))


def masked_step_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Mean cross-entropy of ``logits (B, S, C)`` against ``targets (B, S)`` over ``mask (B, S)``.

    One class per step (softmax); padded steps (mask 0) count for nothing, whatever their target.
    """
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def multilabel_step_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                         pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy of ``logits (B, S, C)`` against 0/1 ``targets (B, S, C)``.

    Any number of tags per step, each its own sigmoid. The mean runs over the tags of the steps
    where ``mask (B, S)`` is set; ``pos_weight (C,)`` weighs each tag's positives (rare tags).
    """
    if targets.shape != logits.shape:
        raise SeqkitError(f"multilabel targets must have the logits' shape {tuple(logits.shape)} "
                          f"(one 0/1 column per tag); got {tuple(targets.shape)}.")
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype),
                                                pos_weight=pos_weight, reduction="none")
    mask = mask.to(losses.dtype)
    return (losses * mask[..., None]).sum() / (mask.sum() * logits.shape[-1]).clamp(min=1)


def ctc_loss(logits: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """CTC loss of per-step ``logits (B, S, C)`` against padded ``targets (B, L)``.

    Input lengths come from ``mask (B, S)``, so padded steps are never read. Each row's negative
    log-likelihood is divided by its target length, then the rows are averaged (PyTorch's
    ``reduction="mean"``); a row that no alignment fits scores 0 rather than infinity.
    """
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (S, B, C), as CTC wants
    return F.ctc_loss(log_probs, targets, mask.sum(1), target_lengths, blank=blank,
                      zero_infinity=True)
