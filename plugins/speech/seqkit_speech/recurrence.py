"""A padded batch through a fused recurrent stack without packing.

On CPU, PyTorch runs a packed sequence (``pack_padded_sequence``) through a slow per-step path
whose backward pass zero-fills a tensor of the whole input for every time step: training costs
grow with the square of the length (a 2-layer bidirectional LSTM over 85 frames at batch 16:
0.97 s a step packed, 0.19 s unpacked). Speech utterances are long, so the speech model runs
its encoder's ``nn.LSTM``/``GRU``/``RNN`` weights here instead, layer by layer and direction by
direction, each one fused call over the padded batch:

- the forward direction reads the padded rows as they are (padding comes after the real frames
  and so never reaches them);
- the backward direction reads each row reversed within its own length, and its outputs are
  reversed back.

The outputs at real frames equal the packed run's (a test checks it to 1e-5); padded frames
are zeros, as ``pad_packed_sequence`` gives. This belongs in the core's ``seqkit.cells.RNN``
(see the speech page's notes); it lives here until the core takes it.
"""
from __future__ import annotations

import functools

import torch
from torch import nn
from torch.func import functional_call

WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x (B, T, F)`` with each row's first ``lengths[b]`` steps reversed, the padding kept
    in place; applying it twice gives ``x`` back."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    last = lengths.to(x.device).unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def _direction(rnn: nn.RNNBase, template: nn.RNNBase, layer: int, reverse: bool,
               inputs: torch.Tensor) -> torch.Tensor:
    """One layer in one direction: ``(B, T, I) -> (B, T, H)`` through ``template`` (a
    one-layer unidirectional module of the same cell) with that direction's weights."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    params = {f"{name}_l0": getattr(rnn, name + suffix) for name in WEIGHTS
              if hasattr(rnn, name + suffix)}
    outputs, _ = functional_call(template, params, (inputs,))
    return outputs


def run_padded(rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``inputs (B, T, I)`` with real lengths ``lengths (B,)`` -> outputs ``(B, T, H * D)``
    of the fused module ``rnn`` (batch-first, zero initial state), zeros at padded steps."""
    mask = (torch.arange(inputs.shape[1], device=inputs.device).unsqueeze(0)
            < lengths.to(inputs.device).unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    below = inputs
    for layer in range(rnn.num_layers):
        if layer:
            below = nn.functional.dropout(below, rnn.dropout, rnn.training)
        template = _template(type(rnn), below.shape[-1], rnn.hidden_size, rnn.bias,
                             getattr(rnn, "nonlinearity", None))
        parts = [_direction(rnn, template, layer, False, below)]
        if rnn.bidirectional:
            flipped = reverse_within(below, lengths)
            parts.append(reverse_within(_direction(rnn, template, layer, True, flipped), lengths))
        below = torch.cat(parts, -1) * mask
    return below


@functools.lru_cache(maxsize=32)
def _template(kind: type, input_size: int, hidden_size: int, bias: bool,
              nonlinearity: str | None) -> nn.RNNBase:
    """A one-layer unidirectional module shaped like one direction of a layer (on the meta
    device: its own weights are never used, ``functional_call`` swaps in the real ones)."""
    kwargs = {"nonlinearity": nonlinearity} if nonlinearity else {}
    with torch.device("meta"):
        return kind(input_size, hidden_size, 1, bias=bias, batch_first=True, **kwargs)
