"""The generic Decoder: embedding -> RNN (optionally attending over a Memory) -> logits.

A language model is a decoder with no memory. With attention the decoder runs step by step
(each step's query depends on the last); without it, one fused RNN call covers the sequence.

The decoder state is a dict of batch-first tensors, so decoding can expand and reorder it for
beam search without knowing what is inside:

- ``rnn``: the RNN's state, a tuple of ``(B, layers, H)``;
- with attention, also ``feed`` ``(B, H)`` (the last attentional vector, for input feeding),
  and the memory: ``features (B, S, K)``, ``keys`` (projected once) and ``mask (B, S)``.
"""
from __future__ import annotations

import torch
from torch import nn

from seqkit.attention import ATTENTIONS, Attention
from seqkit.cells import RNN, Cell, last_layer
from seqkit.encoder import Memory

DecoderState = dict


class Decoder(nn.Module):
    """Token ids ``(B, T)`` -> logits ``(B, T, V)``, carrying a ``DecoderState``."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 cell: Cell = "lstm", dropout: float = 0.0, tie_weights: bool = False,
                 attention: Attention | None = None, memory_size: int = 0,
                 attention_size: int = 0, input_feeding: bool = True, gate: bool = False,
                 pad_id: int = 0):
        """``attention`` needs ``memory_size``; ``gate`` scales the context by a learnt sigmoid
        of the query (Show, Attend and Tell); ``tie_weights`` shares the embedding matrix with
        the output layer (through a projection when ``hidden_size != embed_size``)."""
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.attend = None
        rnn_input = embed_size
        if attention:
            self.attend = ATTENTIONS[attention](hidden_size, memory_size,
                                                attention_size or hidden_size)
            self.bahdanau = attention == "bahdanau"  # query = previous hidden, context feeds the RNN
            self.input_feeding = input_feeding
            rnn_input += hidden_size * input_feeding + memory_size * self.bahdanau
            self.combine = nn.Linear(hidden_size + memory_size, hidden_size)
            self.gate = nn.Linear(hidden_size, 1) if gate else None
            parts = 2 if cell == "lstm" else 1
            self.bridge = nn.Linear(memory_size, parts * num_layers * hidden_size)
        self.rnn = RNN(cell, rnn_input, hidden_size, num_layers, dropout)
        self.bottleneck = (nn.Linear(hidden_size, embed_size)
                           if tie_weights and hidden_size != embed_size else None)
        self.output = nn.Linear(embed_size if self.bottleneck else hidden_size, vocab_size)
        if tie_weights:
            self.output.weight = self.embed.weight
        self._init_embedding_and_output(pad_id)

    def _init_embedding_and_output(self, pad_id: int) -> None:
        """Small uniform embeddings (+-0.1) and a zero output bias, as in Zaremba et al.

        PyTorch's N(0, 1) embedding init is too large for an output layer tied to it: the
        initial logits would have a standard deviation of sqrt(E), a near one-hot softmax.
        """
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embed.weight[pad_id].zero_()
        if self.output.weight is not self.embed.weight:
            nn.init.uniform_(self.output.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)

    def start(self, memory: Memory) -> DecoderState:
        """The initial state for decoding against ``memory``: the RNN state comes from the
        masked mean of the memory features through a learnt bridge (zeros with no attention)."""
        if self.attend is None:
            return {"rnn": memory.state}
        mask = memory.mask.unsqueeze(-1).to(memory.features.dtype)
        mean = (memory.features * mask).sum(1) / mask.sum(1).clamp(min=1)
        batch = mean.size(0)
        init = torch.tanh(self.bridge(mean)).view(batch, -1, self.num_layers, self.hidden_size)
        return {"rnn": tuple(init[:, i].contiguous() for i in range(init.size(1))),
                "feed": mean.new_zeros(batch, self.hidden_size),
                "features": memory.features, "keys": self.attend.prepare(memory.features),
                "mask": memory.mask}

    def forward(self, tokens: torch.Tensor, state: DecoderState | None = None,
                memory: Memory | None = None, return_attention: bool = False):
        """Decode ``tokens (B, T)`` (teacher forcing) from ``state`` or from ``memory``.

        Returns ``logits (B, T, V)`` and the new state, and with ``return_attention`` also the
        attention weights ``(B, T, S)``.
        """
        if state is None and memory is not None:
            state = self.start(memory)
        state = dict(state or {"rnn": None})
        embedded = self.drop(self.embed(tokens))  # (B, T, E)
        if self.attend is None:
            outputs, state["rnn"] = self.rnn(embedded, state["rnn"])
            weights = None
        else:
            outputs, weights = self._attend_steps(embedded, state)
        logits = self.output(self._project(self.drop(outputs)))
        return (logits, state, weights) if return_attention else (logits, state)

    def step(self, tokens: torch.Tensor, state: DecoderState | None):
        """Single-step form for incremental decoding: ``tokens (B,)`` -> ``logits (B, V)``."""
        logits, state = self(tokens.unsqueeze(1), state)
        return logits.squeeze(1), state

    def _project(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(outputs) if self.bottleneck is not None else outputs

    def _attend_steps(self, embedded: torch.Tensor, state: DecoderState):
        """The attention loop; updates ``state`` in place. Returns ``(B, T, H)``, ``(B, T, S)``."""
        outputs, weights = [], []
        for t in range(embedded.size(1)):
            inputs = [embedded[:, t]]
            if self.input_feeding:
                inputs.append(state["feed"])
            if self.bahdanau:
                context, alpha = self._context(last_layer(state["rnn"]), state)
                inputs.append(context)
            out, state["rnn"] = self.rnn(torch.cat(inputs, -1).unsqueeze(1), state["rnn"])
            out = out.squeeze(1)
            if not self.bahdanau:
                context, alpha = self._context(out, state)
            state["feed"] = torch.tanh(self.combine(torch.cat([out, context], -1)))
            outputs.append(state["feed"])
            weights.append(alpha)
        return torch.stack(outputs, 1), torch.stack(weights, 1)

    def _context(self, query: torch.Tensor, state: DecoderState):
        context, alpha = self.attend(query, state["keys"], state["features"], state["mask"])
        if self.gate is not None:
            context = context * torch.sigmoid(self.gate(query))
        return context, alpha
