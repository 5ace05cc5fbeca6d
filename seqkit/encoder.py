"""The generic Encoder: front-end -> RNN stack -> ``Memory``.

A plugin supplies only the front-end: any module mapping ``(inputs, lengths)`` to
``(features (B, S, F), lengths (B,) or None)`` — an embedding, a CNN over an image grid, a
spectrogram, a frame CNN. The encoder runs an optional RNN stack over the features and returns a
``Memory`` that decoders attend over and heads classify.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqkit.cells import RNN, Cell, State, state_parts


@dataclass
class Memory:
    """What an encoder hands on (every tensor batch-first, so decoding can expand its rows)."""

    features: torch.Tensor  # (B, S, H) one vector per source position
    mask: torch.Tensor  # (B, S) bool, True at real (non-padding) positions
    state: State | None = None  # the RNN's final batch-first state, if there is an RNN
    keys: torch.Tensor | None = None  # (B, S, A) features projected by a decoder's attention

    def summary(self) -> torch.Tensor:
        """One vector per row ``(B, D)`` to start a decoder from: the RNN's final state, all
        layers, directions and parts side by side (``D = parts * layers * dirs * H``), or
        without an RNN the mean of the real positions' features (``D = H``)."""
        if self.state is not None:
            return torch.cat([part.flatten(1) for part in self.state], 1)
        mask = self.mask.unsqueeze(-1).to(self.features.dtype)
        return (self.features * mask).sum(1) / mask.sum(1).clamp(min=1)


def lengths_to_mask(lengths: torch.Tensor | None, batch: int, steps: int,
                    device: torch.device) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, S)`` bool mask; all True when lengths is None."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)


class TokenEmbedding(nn.Module):
    """The text front-end: token ids ``(B, S)`` -> embeddings ``(B, S, E)`` with dropout."""

    def __init__(self, vocab_size: int, embed_size: int, dropout: float = 0.0, pad_id: int = 0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.output_size = embed_size

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None):
        """Return ``(embeddings (B, S, E), lengths)``."""
        return self.drop(self.embed(tokens)), lengths


class Encoder(nn.Module):
    """front-end ``(B, S, F)`` -> optional RNN stack ``(B, S, H*D)`` -> ``Memory``."""

    def __init__(self, frontend: nn.Module, frontend_size: int, cell: Cell = "lstm",
                 hidden_size: int = 0, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False):
        """``hidden_size=0`` skips the RNN: the memory is the front-end's features."""
        super().__init__()
        self.frontend = frontend
        self.rnn = (RNN(cell, frontend_size, hidden_size, num_layers, dropout, bidirectional)
                    if hidden_size else None)
        self.output_size = self.rnn.output_size if self.rnn else frontend_size
        # the width of Memory.summary(): the flattened final state, or the mean feature
        self.summary_size = (state_parts(cell) * num_layers * self.output_size if self.rnn
                             else frontend_size)

    def forward(self, inputs, lengths: torch.Tensor | None = None,
                state: State | None = None) -> Memory:
        """Encode a batch; ``lengths (B,)`` marks padding for variable-length inputs.

        ``state`` (batch-first, as ``Memory.state``) starts the RNN where the previous chunk
        of the same streams left it: encoding a long input chunk by chunk, passing each
        chunk's ``memory.state`` on (detached, for truncated BPTT), gives the same features
        as encoding it whole, for a unidirectional RNN. None starts from zeros."""
        features, lengths = self.frontend(inputs, lengths)
        return self.recur(features, lengths, state)

    def recur(self, features: torch.Tensor, lengths: torch.Tensor | None = None,
              state: State | None = None) -> Memory:
        """The RNN stage alone, over front-end features ``(B, S, F)`` a caller computed
        itself (cached, say): ``forward`` without the front-end."""
        batch, steps = features.shape[:2]
        if state is not None and self.rnn is None:
            raise ValueError("this encoder has no RNN (hidden_size=0): it has no state to "
                             "carry; pass state=None")
        if self.rnn is not None:
            features, state = self.rnn(features, state, lengths)
        mask = lengths_to_mask(lengths, batch, steps, features.device)
        return Memory(features, mask, state)
