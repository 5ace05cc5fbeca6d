"""The generic Decoder: embedding -> RNN (optionally attending over a Memory) -> logits.

A language model is a decoder with no memory: one fused RNN call covers a teacher-forced
sequence. With attention each step's input depends on the last step's output, so the decoder
runs a stack of cells (``seqkit.cells.CellStack``) one step at a time.

The decoder state is a dict of batch-first tensors, so decoding can expand and reorder it for
beam search without knowing what is inside:

- ``rnn``: the recurrent state, a tuple of ``(B, layers, H)``;
- with attention and input feeding, also ``feed`` ``(B, H)``, the last attentional vector.

The memory is *not* in the state: it never changes while decoding, so beam search expands it
once per beam and passes it to every ``step`` beside the state, instead of reordering it with
the state each step. ``prepare(memory)`` projects the attention keys once per sequence.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from seqkit.attention import ATTENTIONS, Attention
from seqkit.cells import RNN, Cell, CellStack, last_layer, state_parts
from seqkit.encoder import Memory
from seqkit.linear_ce import linear_cross_entropy

DecoderState = dict


class Decoder(nn.Module):
    """Token ids ``(B, T)`` -> logits ``(B, T, V)``, carrying a ``DecoderState``."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 cell: Cell = "lstm", dropout: float = 0.0, tie_weights: bool = False,
                 attention: Attention | None = None, memory_size: int = 0,
                 attention_size: int = 0, input_feeding: bool = True, gate: bool = False,
                 pad_id: int = 0, bridge_size: int = 0):
        """``attention`` needs ``memory_size``; ``gate`` scales the context by a learnt sigmoid
        of the query (Show, Attend and Tell); ``tie_weights`` shares the embedding matrix with
        the output layer (through a projection when ``hidden_size != embed_size``);
        ``bridge_size`` is the width of the ``Memory.summary()`` that a learnt bridge maps to
        the initial state (0: start from zeros)."""
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.attend, self.input_feeding = None, False
        rnn_input = embed_size
        if attention:
            self.attend = ATTENTIONS[attention](hidden_size, memory_size,
                                                attention_size or hidden_size)
            self.bahdanau = attention == "bahdanau"  # query = previous hidden, context feeds the RNN
            self.input_feeding = input_feeding
            rnn_input += hidden_size * input_feeding + memory_size * self.bahdanau
            self.combine = nn.Linear(hidden_size + memory_size, hidden_size)
            self.gate = nn.Linear(hidden_size, 1) if gate else None
        self.bridge = (nn.Linear(bridge_size, state_parts(cell) * num_layers * hidden_size)
                       if bridge_size else None)
        self.rnn = (CellStack(cell, rnn_input, hidden_size, num_layers, dropout) if attention
                    else RNN(cell, rnn_input, hidden_size, num_layers, dropout))
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

    def prepare(self, memory: Memory) -> Memory:
        """The memory with this decoder's attention keys ``(B, S, A)`` projected once."""
        if self.attend is None or memory.keys is not None:
            return memory
        return dataclasses.replace(memory, keys=self.attend.prepare(memory.features))

    def start(self, memory: Memory | None) -> DecoderState:
        """The initial state for decoding against ``memory``: the learnt bridge of
        ``memory.summary()`` (any encoder: bidirectional, any depth or cell), else zeros.
        Without attention and bridge, ``{"rnn": None}`` (zeros too)."""
        if memory is None and self.attend is None:
            return {"rnn": None}
        if memory is None:
            raise ValueError("an attending decoder starts from a Memory; got None")
        batch, like = memory.features.size(0), memory.features
        if self.bridge is not None:
            init = torch.tanh(self.bridge(memory.summary()))
            init = init.view(batch, -1, self.num_layers, self.hidden_size)
            rnn = tuple(init[:, i].contiguous() for i in range(init.size(1)))
        elif self.attend is not None:  # Bahdanau attention reads the top layer from step one
            zeros = like.new_zeros(batch, self.num_layers, self.hidden_size)
            rnn = (zeros,) * state_parts(self.cell)
        else:
            rnn = None
        state = {"rnn": rnn}
        if self.input_feeding:
            state["feed"] = like.new_zeros(batch, self.hidden_size)
        return state

    def forward(self, tokens: torch.Tensor, state: DecoderState | None = None,
                memory: Memory | None = None, return_attention: bool = False,
                targets: torch.Tensor | None = None):
        """Decode ``tokens (B, T)`` (teacher forcing) from ``state`` (default: ``start``).

        An attending decoder needs ``memory``. Returns ``logits (B, T, V)`` and the new state,
        and with ``return_attention`` also the attention weights ``(B, T, S)`` (None without
        attention). With ``targets (B, T)`` it returns instead the mean cross-entropy of the
        logits against them (an fp32 scalar) and the new state, computed by the fused output
        layer and loss of ``seqkit.linear_ce`` without forming the logits (what a language
        model trains on).
        """
        if state is None:
            state = self.start(memory)
        embedded = self.drop(self.embed(tokens))  # (B, T, E)
        if self.attend is None:
            outputs, rnn = self.rnn(embedded, state["rnn"])
            state, weights = {**state, "rnn": rnn}, None
        else:
            memory = self._prepared(memory)
            outputs, weights = [], []
            for t in range(embedded.size(1)):
                out, state, alpha = self._attend_step(embedded[:, t], state, memory)
                outputs.append(out)
                weights.append(alpha)
            outputs, weights = torch.stack(outputs, 1), torch.stack(weights, 1)
        hidden = self._project(self.drop(outputs))  # (B, T, E or H)
        if targets is not None:
            return linear_cross_entropy(hidden.flatten(0, 1), self.output.weight,
                                        self.output.bias, targets.flatten()), state
        logits = self.output(hidden)
        return (logits, state, weights) if return_attention else (logits, state)

    def step(self, tokens: torch.Tensor, state: DecoderState | None,
             memory: Memory | None = None):
        """Single-step form for incremental decoding: ``tokens (B,)`` -> ``logits (B, V)`` and
        the new state. ``memory`` (for attention; best ``prepare``-d once) stays unchanged."""
        if state is None:
            state = self.start(memory)
        embedded = self.drop(self.embed(tokens))  # (B, E)
        if self.attend is None:
            out, rnn = self.rnn.step(embedded, state["rnn"])
            state = {**state, "rnn": rnn}
        else:
            out, state, _ = self._attend_step(embedded, state, self._prepared(memory))
        return self.output(self._project(self.drop(out))), state

    def _prepared(self, memory: Memory | None) -> Memory:
        if memory is None:
            raise ValueError("an attending decoder needs the Memory it attends over")
        return self.prepare(memory)

    def _project(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(outputs) if self.bottleneck is not None else outputs

    def _attend_step(self, embedded: torch.Tensor, state: DecoderState, memory: Memory):
        """One step of the attention loop: ``embedded (B, E)`` -> the attentional vector
        ``(B, H)``, the new state, and the attention weights ``(B, S)``."""
        inputs = [embedded]
        if self.input_feeding:
            inputs.append(state["feed"])
        if self.bahdanau:  # the query is the previous top hidden state
            context, alpha = self._context(last_layer(state["rnn"]), memory)
            inputs.append(context)
        out, rnn = self.rnn.step(torch.cat(inputs, -1), state["rnn"])
        if not self.bahdanau:  # Luong: the query is the new top hidden state
            context, alpha = self._context(out, memory)
        feed = torch.tanh(self.combine(torch.cat([out, context], -1)))
        new = {"rnn": rnn, "feed": feed} if self.input_feeding else {"rnn": rnn}
        return feed, new, alpha

    def _context(self, query: torch.Tensor, memory: Memory):
        context, alpha = self.attend(query, memory.keys, memory.features, memory.mask)
        if self.gate is not None:
            context = context * torch.sigmoid(self.gate(query))
        return context, alpha
