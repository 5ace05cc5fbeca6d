"""A lean single-step form of a plain LSTM Decoder, for sampling at batch 1 on a CPU.

``Decoder.step`` runs the general path: a dict state, the module stack, cell math per layer
with its state stacked into ``(B, layers, H)``. At batch 1 each step is a handful of
matrix-vector products, so that fixed cost is a large share of the time. ``FastLSTMStep`` precomputes what an inference step
needs from the trained weights:

- one weight matrix per layer for ``[x, h] -> gates`` (input and recurrent weights side by
  side), and one bias;
- for a small vocabulary, the first layer's input gates for every token (``embedding @ W_ih``
  plus the biases), so that the first layer's input product becomes a row lookup.

It computes the same function as ``Decoder.step`` in eval mode (no dropout) and follows the
step-function contract of :mod:`seqkit.decoding`. Its state is a tuple ``(h_1, c_1, ...,
h_L, c_L)`` of ``(B, H)`` tensors; :meth:`FastLSTMStep.state` converts a Decoder state to it.
The weights are copied when it is built: rebuild it after further training.
"""
from __future__ import annotations

import torch
from torch import Tensor

from seqkit.decoder import Decoder, DecoderState

TABLE_MAX_ENTRIES = 1 << 22  # largest vocab * 4H table of first-layer input gates (16 MiB)


class FastLSTMStep:
    """``(tokens (B,), state) -> (logits (B, V), state)`` for a Decoder without attention."""

    @staticmethod
    def supports(model: Decoder) -> bool:
        """Whether ``model`` is a plain LSTM decoder (no attention), the case handled here."""
        return isinstance(model, Decoder) and model.cell == "lstm" and model.attend is None

    @torch.no_grad()
    def __init__(self, model: Decoder):
        if not self.supports(model):
            raise ValueError("FastLSTMStep needs an LSTM Decoder without attention")
        lstm, size = model.rnn.rnn, model.hidden_size
        self.layers = model.num_layers
        self.hidden_size = size
        weights = [(getattr(lstm, f"weight_ih_l{i}"), getattr(lstm, f"weight_hh_l{i}"),
                    getattr(lstm, f"bias_ih_l{i}") + getattr(lstm, f"bias_hh_l{i}"))
                   for i in range(self.layers)]
        w_ih, w_hh, bias = weights[0]
        embedding = model.embed.weight
        self.table = None
        if embedding.size(0) * 4 * size <= TABLE_MAX_ENTRIES:
            self.table = torch.addmm(bias, embedding, w_ih.t())  # (V, 4H)
            self.first = w_hh.t().contiguous()  # (H, 4H)
        else:
            self.embedding = embedding.detach().clone()
            self.first = torch.cat([w_ih, w_hh], 1).t().contiguous()  # (E + H, 4H)
            self.first_bias = bias
        self.upper = [(torch.cat([w_ih, w_hh], 1).t().contiguous(), b)
                      for w_ih, w_hh, b in weights[1:]]
        head = model.output.weight.t().contiguous()  # (E or H, V)
        if model.bottleneck is not None:  # fold the tying projection into the output layer
            head = model.bottleneck.weight.t() @ head
            self.out_bias = model.output.bias + model.bottleneck.bias @ model.output.weight.t()
        else:
            self.out_bias = model.output.bias.clone()
        self.head = head.contiguous()

    def state(self, state: DecoderState | None, batch: int = 1) -> tuple[Tensor, ...]:
        """This step's state from a Decoder state (or zeros for ``None``)."""
        if state is None or state.get("rnn") is None:
            zeros = self.head.new_zeros(batch, self.hidden_size)
            return (zeros,) * (2 * self.layers)
        h, c = state["rnn"]  # (B, L, H) each
        return tuple(t for i in range(self.layers) for t in (h[:, i], c[:, i]))

    def _cell(self, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        size = self.hidden_size
        sig = gates.sigmoid()  # i, f, (g), o: sigmoid of the g block is computed and unused
        c = torch.addcmul(sig[:, size:2 * size] * c, sig[:, :size],
                          gates[:, 2 * size:3 * size].tanh())
        return sig[:, 3 * size:] * c.tanh(), c

    @torch.no_grad()
    def __call__(self, tokens: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple]:
        new: list[Tensor] = []
        h, c = state[0], state[1]
        if self.table is not None:
            gates = torch.addmm(self.table[tokens], h, self.first)
        else:
            gates = torch.addmm(self.first_bias, torch.cat([self.embedding[tokens], h], 1),
                                self.first)
        below, c = self._cell(gates, c)
        new += [below, c]
        for i, (weight, bias) in enumerate(self.upper, start=1):
            h, c = state[2 * i], state[2 * i + 1]
            below, c = self._cell(torch.addmm(bias, torch.cat([below, h], 1), weight), c)
            new += [below, c]
        return torch.addmm(self.out_bias, below, self.head), tuple(new)
