"""Per-step classifiers over encoder features: frame tags (video) and CTC (speech)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.encoder import Memory


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
    """Mean cross-entropy of ``logits (B, S, C)`` against ``targets (B, S)`` over ``mask (B, S)``."""
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def ctc_loss(logits: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """CTC loss of per-step ``logits (B, S, C)`` against padded ``targets (B, L)``.

    Input lengths come from ``mask (B, S)``; the loss is averaged over target lengths.
    """
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (S, B, C), as CTC wants
    return F.ctc_loss(log_probs, targets, mask.sum(1), target_lengths, blank=blank,
                      zero_infinity=True)
