"""Recurrent cells through PyTorch's fused modules, with batch-first inputs *and* states.

PyTorch keeps recurrent state as ``(layers * directions, B, H)``. seqkit keeps every tensor
batch-first, so that one rule (dim 0 is the batch) lets decoding reorder beams and ``fit()``
shard and detach state without knowing the cell. ``State`` is a tuple: ``(h,)`` for ``rnn``
and ``gru``, ``(h, c)`` for ``lstm``, each ``(B, layers * directions, H)``.

The explicit Elman RNN with hand-written BPTT, for teaching, lives in ``seqkit.elman``.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["rnn", "gru", "lstm"]
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
State = tuple[torch.Tensor, ...]


class RNN(nn.Module):
    """A stack of fused recurrent layers: ``(B, T, I) -> (B, T, H * directions)``."""

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell '{cell}'; choose one of {', '.join(CELLS)}")
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0,
                               bidirectional=bidirectional)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, inputs: torch.Tensor, state: State | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """Run the stack over ``inputs (B, T, I)``.

        ``lengths (B,)`` packs a padded batch so that padding never reaches the state; the
        padded output positions are zeros. Returns ``outputs (B, T, H*D)`` and the final
        batch-first state.
        """
        hidden = to_torch_state(state)
        if lengths is None:
            outputs, hidden = self.rnn(inputs, hidden)
        else:
            packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True,
                                          enforce_sorted=False)
            outputs, hidden = self.rnn(packed, hidden)
            outputs, _ = pad_packed_sequence(outputs, batch_first=True,
                                             total_length=inputs.size(1))
        return outputs, from_torch_state(hidden)


def to_torch_state(state: State | None):
    """Batch-first seqkit state -> the layout PyTorch's fused modules take."""
    if state is None:
        return None
    layers_first = tuple(s.transpose(0, 1).contiguous() for s in state)
    return layers_first if len(layers_first) == 2 else layers_first[0]


def from_torch_state(hidden) -> State:
    """PyTorch's ``(L*D, B, H)`` state (or an LSTM's pair) -> batch-first seqkit state."""
    parts = hidden if isinstance(hidden, tuple) else (hidden,)
    return tuple(s.transpose(0, 1) for s in parts)


def last_layer(state: State, bidirectional: bool = False) -> torch.Tensor:
    """The top layer's hidden state ``(B, H)`` (``(B, 2H)`` for a bidirectional stack)."""
    h = state[0]
    return h[:, -2:].flatten(1) if bidirectional else h[:, -1]
