"""Sequence to sequence: an ``Encoder`` and an attending ``Decoder``, what captioning and
translation share.

The model takes one padded batch type, ``Seq2SeqBatch``, whatever the source is (token ids for
text, pixels for images: the encoder's front-end decides). Targets run ``<bos> ... <eos>``,
right-padded; the decoder reads ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]`` (target shifting).
A source may have several targets (an image with five captions): ``owner`` says which source
row each target belongs to, and the memory rows are picked once per target.

``forward(batch)`` returns everything the training loss needs (a ``Seq2SeqLoss``), so that a
task's loss function reads ``model(batch).loss`` through any DDP or ``torch.compile`` wrapper::

    model = Seq2Seq(Encoder(TokenEmbedding(V, E), E, "lstm", H, bidirectional=True),
                    Decoder(V, E, H, attention="luong", memory_size=2 * H,
                            bridge_size=encoder.summary_size), bos_id=1, eos_id=2, pad_id=0)
    out = model(batch)                       # out.loss, out.items, out.nll, out.penalty
    ids = model.generate(model.encode(batch.src, batch.src_lengths), beam=4, max_len=50)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqkit.batching import pad
from seqkit.decoder import Decoder, DecoderState
from seqkit.decoding import beam_best, greedy, map_state, select_rows
from seqkit.encoder import Encoder, Memory


@dataclass
class Seq2SeqBatch:
    """One padded batch of sources and their targets (every tensor batch-first)."""

    src: Tensor  # (B, ...) what the encoder's front-end takes: ids (B, S), images (B, 3, H, W)
    src_lengths: Tensor | None  # (B,) real source positions; None: every position is real
    tgt: Tensor  # (N, T) long: <bos> target <eos> <pad>...
    tgt_lengths: Tensor  # (N,) tokens of each target row, <bos> and <eos> included
    owner: Tensor | None = None  # (N,) source row of each target; None: target n has source n
    index: Tensor | None = None  # (B,) the sources' example numbers in their split

    def to(self, device: torch.device | str) -> "Seq2SeqBatch":
        """The batch with every tensor on ``device``."""
        return map_state(lambda t: t.to(device, non_blocking=True), self)


def target_batch(targets: list[list[int]], bos_id: int, eos_id: int, pad_id: int
                 ) -> tuple[Tensor, Tensor]:
    """Token lists (no bos/eos) -> ``tgt (N, T)`` ``<bos> ids <eos> <pad>...`` and its
    ``lengths (N,)``, for a ``Seq2SeqBatch``."""
    return pad([[bos_id] + list(ids) + [eos_id] for ids in targets], pad_id)


class Seq2SeqLoss(NamedTuple):
    """What ``Seq2Seq.forward`` returns: the training loss and the terms behind it."""

    loss: Tensor  # () label-smoothed cross-entropy per token + attention_penalty * penalty
    items: int  # target tokens scored (the loss's denominator)
    nll: Tensor  # () plain cross-entropy per token (no smoothing): for reporting
    penalty: Tensor  # () doubly stochastic attention penalty, mean over targets (0 if unused)


def smoothed_cross_entropy(logits: Tensor, targets: Tensor, pad_id: int,
                           smoothing: float = 0.0) -> tuple[Tensor, Tensor, int]:
    """Masked cross-entropy of ``logits (N, T, V)`` against ``targets (N, T)``, skipping
    ``pad_id`` positions.

    Per token: ``(1 - eps) * -log p(target) + eps * mean_v -log p(v)`` (PyTorch's
    ``label_smoothing``). Returns the smoothed loss per token, the plain negative
    log-likelihood per token, and the number of tokens.
    """
    log_probs = logits.float().log_softmax(-1)  # (N, T, V)
    real = targets != pad_id  # (N, T)
    items = int(real.sum())
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (N, T)
    uniform = -log_probs.mean(-1)  # (N, T)
    per_token = (1 - smoothing) * nll + smoothing * uniform
    denominator = max(items, 1)
    return ((per_token * real).sum() / denominator, (nll * real).sum() / denominator, items)


def attention_penalty(weights: Tensor, steps: Tensor, positions: Tensor) -> Tensor:
    """Doubly stochastic attention penalty (Show, Attend and Tell), averaged over targets.

    Per target: ``mean_s (1 - sum_t alpha_ts)^2`` over the real memory positions s, summing the
    weights ``alpha (N, T, S)`` over the real steps t (``steps (N, T)`` bool) only. It pushes
    every position to receive, over the whole target, about as much attention as any other.
    ``positions (N, S)`` bool marks the real memory positions.
    """
    coverage = (weights * steps.unsqueeze(-1).to(weights.dtype)).sum(1)  # (N, S)
    cells = positions.to(weights.dtype)
    per_target = ((1 - coverage) ** 2 * cells).sum(1) / cells.sum(1).clamp(min=1)
    return per_target.mean()


class Seq2Seq(nn.Module):
    """Sources -> ``Memory`` -> target logits; training loss terms; greedy and beam search."""

    def __init__(self, encoder: Encoder, decoder: Decoder, bos_id: int, eos_id: int,
                 pad_id: int, label_smoothing: float = 0.0, attention_penalty: float = 0.0):
        """``label_smoothing`` is eps of the cross-entropy; ``attention_penalty`` the weight
        lambda of the doubly stochastic attention penalty in ``loss`` (0: none)."""
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        self.label_smoothing, self.attention_penalty = label_smoothing, attention_penalty

    def encode(self, src: Tensor, src_lengths: Tensor | None = None) -> Memory:
        """Sources ``(B, ...)`` -> ``Memory`` with features ``(B, S, F)``."""
        return self.encoder(src, src_lengths)

    def start(self, memory: Memory) -> DecoderState:
        """The decoder state before the first target token."""
        return self.decoder.start(memory)

    def decode(self, memory: Memory, inputs: Tensor, owner: Tensor | None = None):
        """Teacher forcing over ``memory``: ``inputs (N, T)`` start with ``<bos>``; target n
        belongs to source ``owner[n]`` (default: n). Returns logits ``(N, T, V)``, attention
        ``(N, T, S)`` (None without attention) and the memory rows of the targets."""
        if owner is not None:
            memory = select_rows(memory, owner)
        memory = self.decoder.prepare(memory)
        logits, _, weights = self.decoder(inputs, self.start(memory), memory,
                                          return_attention=True)
        return logits, weights, memory

    def loss_terms(self, memory: Memory, tgt: Tensor, owner: Tensor | None = None
                   ) -> Seq2SeqLoss:
        """The loss of targets ``tgt (N, T+1)`` (``<bos>`` to ``<eos>``, right-padded) over
        ``memory``, shifted: the decoder reads ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]``."""
        inputs, targets = tgt[:, :-1], tgt[:, 1:]
        logits, weights, memory = self.decode(memory, inputs, owner)
        loss, nll, items = smoothed_cross_entropy(logits, targets, self.pad_id,
                                                  self.label_smoothing)
        penalty = loss.new_zeros(())
        if weights is not None:
            penalty = attention_penalty(weights.float(), targets != self.pad_id, memory.mask)
        return Seq2SeqLoss(loss + self.attention_penalty * penalty, items, nll, penalty)

    def forward(self, batch: Seq2SeqBatch) -> Seq2SeqLoss:
        """The training loss of a batch (the forward pass, so that DDP and
        ``torch.compile`` wrap it): :meth:`loss_terms` over its encoded sources."""
        return self.loss_terms(self.encode(batch.src, batch.src_lengths), batch.tgt,
                               batch.owner)

    def search_start(self, memory: Memory, beam: int) -> tuple[DecoderState, Memory, Tensor]:
        """What a search over ``memory`` starts from: the decoder's first state, the memory
        prepared for attention (without its encoder state), and ``<bos>`` per row ``(B,)``."""
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        state = self.start(memory)
        memory = self.decoder.prepare(dataclasses.replace(memory, state=None))
        start = torch.full((memory.features.size(0),), self.bos_id, dtype=torch.long,
                           device=memory.features.device)
        return state, memory, start

    @torch.no_grad()
    def generate(self, memory: Memory, beam: int = 1, max_len: int = 50,
                 length_penalty: float = 1.0) -> list[list[int]]:
        """The best target of each memory row, as ids without ``<bos>``/``<eos>``, at most
        ``max_len`` of them: greedy search for ``beam`` 1, else beam search (the memory is
        expanded once per beam, never reordered)."""
        state, memory, start = self.search_start(memory, beam)
        if beam > 1:
            rows = beam_best(self.decoder.step, state, start, self.eos_id, beam, max_len + 1,
                             length_penalty, memory=memory)
        else:
            rows = greedy(self.decoder.step, state, start, max_len + 1, eos=self.eos_id,
                          memory=memory).tolist()
        # one step more than max_len lets a full-length target end in <eos>; a row that never
        # ended is cut to max_len
        return [row[: row.index(self.eos_id) if self.eos_id in row else max_len]
                for row in rows]

    @torch.no_grad()
    def attention(self, memory: Memory, targets: list[list[int]]) -> list[Tensor]:
        """The attention ``(len(target), S)`` behind each token of each row's target (ids
        without ``<bos>``/``<eos>``, e.g. from :meth:`generate`), over ``memory``."""
        tokens, _ = pad([[self.bos_id] + list(ids) for ids in targets], self.pad_id)
        _, weights, _ = self.decode(memory, tokens.to(memory.features.device))
        return [weights[i, : len(ids)].float().cpu() for i, ids in enumerate(targets)]
