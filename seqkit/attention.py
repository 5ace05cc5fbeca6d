"""Attention over an encoder ``Memory``: Bahdanau (additive) and Luong (multiplicative).

Both take a query ``(B, Q)``, keys that ``prepare`` projected once per sequence, the raw
memory features ``(B, S, K)`` and a mask ``(B, S)`` (True for real positions), and return a
context ``(B, K)`` with the weights ``(B, S)``.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Attention = Literal["bahdanau", "luong"]


class BahdanauAttention(nn.Module):
    """score(q, k) = v^T tanh(W_q q + W_k k)."""

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)
        self.key = nn.Linear(key_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def prepare(self, features: torch.Tensor) -> torch.Tensor:
        """Project the keys once per sequence: ``(B, S, K) -> (B, S, A)``."""
        return self.key(features)

    def forward(self, query, keys, features, mask):
        """``query (B, Q)`` -> ``context (B, K)``, ``weights (B, S)``."""
        scores = self.score(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(-1)
        return _attend(scores, features, mask)


class LuongAttention(nn.Module):
    """score(q, k) = q^T W k ("general")."""

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None):
        super().__init__()
        self.key = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, features: torch.Tensor) -> torch.Tensor:
        """Project the keys into the query space once: ``(B, S, K) -> (B, S, Q)``."""
        return self.key(features)

    def forward(self, query, keys, features, mask):
        """``query (B, Q)`` -> ``context (B, K)``, ``weights (B, S)``."""
        scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)
        return _attend(scores, features, mask)


def _attend(scores, features, mask):
    """Softmax of ``scores (B, S)`` over the real positions, then the weighted sum of features."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    context = torch.bmm(weights.unsqueeze(1), features).squeeze(1)
    return context, weights


ATTENTIONS = {"bahdanau": BahdanauAttention, "luong": LuongAttention}
