"""Recurrent cells with batch-first inputs *and* states, in two forms.

- ``RNN``: PyTorch's fused multi-layer modules, for whole sequences (encoders, and decoders
  without attention under teacher forcing). Its ``step`` runs one time step with the same
  weights by cell math (``torch.lstm_cell`` and friends), which never goes through oneDNN's
  fused RNN: that kernel prepares its weights on every call, about ten times the cost of a step.
- ``CellStack``: a stack of ``nn.LSTMCell`` / ``GRUCell`` / ``RNNCell`` run one step at a time,
  for loops where each step's input depends on the last (the attention loop).

PyTorch keeps recurrent state as ``(layers * directions, B, H)``. seqkit keeps every tensor
batch-first, so that one rule (dim 0 is the batch) lets decoding reorder beams and ``fit()``
shard and detach state without knowing the cell. ``State`` is a tuple: ``(h,)`` for ``rnn``
and ``gru``, ``(h, c)`` for ``lstm``, each ``(B, layers * directions, H)``; both forms share it.

The explicit Elman RNN with hand-written BPTT, for teaching, lives in ``seqkit.elman``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["rnn", "gru", "lstm"]
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
CELL_MODULES: dict[str, type[nn.RNNCellBase]] = {"rnn": nn.RNNCell, "gru": nn.GRUCell,
                                                 "lstm": nn.LSTMCell}
CELL_MATH = {"rnn": torch.rnn_tanh_cell, "gru": torch.gru_cell, "lstm": torch.lstm_cell}
State = tuple[torch.Tensor, ...]


def state_parts(cell: Cell) -> int:
    """Tensors in a state of ``cell``: 2 for ``lstm`` (h, c), else 1 (h)."""
    return 2 if cell == "lstm" else 1


def _check_cell(cell: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"unknown cell '{cell}'; choose one of {', '.join(CELLS)}")


class RNN(nn.Module):
    """A stack of fused recurrent layers: ``(B, T, I) -> (B, T, H * directions)``."""

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        _check_cell(cell)
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
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

    def step(self, inputs: torch.Tensor, state: State | None = None
             ) -> tuple[torch.Tensor, State]:
        """One time step, ``inputs (B, I)`` -> ``output (B, H)`` and the new state, by cell
        math on the fused module's weights: the same function as ``forward`` over one step,
        without oneDNN's per-call weight preparation. Unidirectional stacks only."""
        if self.rnn.bidirectional:
            raise ValueError("a bidirectional RNN has no single-step form")
        if state is None:
            zeros = inputs.new_zeros(inputs.size(0), self.num_layers, self.hidden_size)
            state = (zeros,) * state_parts(self.cell)
        cell, below, new = CELL_MATH[self.cell], inputs, []
        for i, weights in enumerate(self.rnn.all_weights):
            if i:
                below = F.dropout(below, self.rnn.dropout, self.training)
            layer = tuple(part[:, i] for part in state)
            out = cell(below, layer if len(layer) == 2 else layer[0], *weights)
            new.append(out if isinstance(out, tuple) else (out,))
            below = new[-1][0]
        return below, tuple(torch.stack(parts, 1) for parts in zip(*new))


class CellStack(nn.Module):
    """A stack of ``nn.LSTMCell`` / ``GRUCell`` / ``RNNCell`` run one step at a time:
    ``(B, I) -> (B, H)``, with dropout between layers as in the fused modules."""

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        _check_cell(cell)
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.cells = nn.ModuleList(
            CELL_MODULES[cell](input_size if i == 0 else hidden_size, hidden_size)
            for i in range(num_layers))
        self.drop = nn.Dropout(dropout if num_layers > 1 else 0.0)
        self.output_size = hidden_size

    def step(self, inputs: torch.Tensor, state: State | None = None
             ) -> tuple[torch.Tensor, State]:
        """``inputs (B, I)`` and a state of ``(B, layers, H)`` tensors (zeros when ``None``)
        -> the top layer's ``output (B, H)`` and the new state."""
        if state is None:
            zeros = inputs.new_zeros(inputs.size(0), self.num_layers, self.hidden_size)
            state = (zeros,) * state_parts(self.cell)
        below, new = inputs, []
        for i, cell in enumerate(self.cells):
            if i:
                below = self.drop(below)
            layer = tuple(part[:, i] for part in state)
            out = cell(below, layer if len(layer) == 2 else layer[0])
            new.append(out if isinstance(out, tuple) else (out,))
            below = new[-1][0]
        return below, tuple(torch.stack(parts, 1) for parts in zip(*new))

    def forward(self, inputs: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        """Run over a whole sequence ``inputs (B, T, I)`` -> ``(B, T, H)`` and the state."""
        outputs = []
        for t in range(inputs.size(1)):
            out, state = self.step(inputs[:, t], state)
            outputs.append(out)
        return torch.stack(outputs, 1), state


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
