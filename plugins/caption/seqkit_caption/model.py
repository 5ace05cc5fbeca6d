"""The captioner: the core ``Encoder`` over an image grid and the core ``Decoder`` attending over
it (Show, Attend and Tell: additive attention with a sigmoid gate on the context), trained with
the doubly stochastic attention penalty, decoded with beam search batched over images.

It also keeps the nearest-neighbour baseline: a bank of pooled encoder features of training
images (a buffer, so it travels with the weights it was computed with).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqkit.batching import pad
from seqkit.decoder import Decoder
from seqkit.decoding import beam_best, select_rows
from seqkit.encoder import Encoder, Memory
from seqkit_caption.config import CaptionConfig


def attention_penalty(weights: torch.Tensor, steps: torch.Tensor,
                      positions: torch.Tensor) -> torch.Tensor:
    """Doubly stochastic attention penalty, averaged over captions.

    Per caption: ``mean_s (1 - sum_t alpha_ts)^2`` over the real grid positions s, summing the
    weights ``alpha (N, T, S)`` over the real steps t (``steps (N, T)`` bool) only. It pushes
    every position to receive, over the whole caption, about as much attention as any other.
    ``positions (N, S)`` bool marks the real grid cells.
    """
    coverage = (weights * steps.unsqueeze(-1).to(weights.dtype)).sum(1)  # (N, S)
    cells = positions.to(weights.dtype)
    per_caption = ((1 - coverage) ** 2 * cells).sum(1) / cells.sum(1).clamp(min=1)
    return per_caption.mean()


class CaptionModel(nn.Module):
    """Images ``(B, 3, H, W)`` -> caption logits, attention, and beam-searched captions."""

    def __init__(self, encoder: Encoder, decoder: Decoder, bos_id: int, eos_id: int,
                 pad_id: int, penalty: float = 1.0, bank_size: int = 0,
                 image_init: bool = True):
        """``penalty`` is lambda of the attention penalty; ``bank_size`` the number of training
        images the nearest-neighbour baseline keeps; ``image_init`` starts the LSTM from the
        mean grid feature (else from zeros: it knows the image only through attention)."""
        super().__init__()
        self.encoder, self.decoder, self.image_init = encoder, decoder, image_init
        self.bos_id, self.eos_id, self.pad_id, self.penalty = bos_id, eos_id, pad_id, penalty
        self.register_buffer("bank", torch.zeros(bank_size, encoder.output_size))
        self.register_buffer("bank_stamp", torch.tensor(float("nan"), dtype=torch.float64))

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)``: how the S memory positions lie on the image."""
        return self.encoder.frontend.grid

    def encode(self, images: torch.Tensor) -> Memory:
        """``(B, 3, H, W)`` -> memory with features ``(B, S, F)``."""
        return self.encoder(images)

    def start(self, memory: Memory) -> dict:
        """The decoder state before the first word (see ``image_init``)."""
        state = self.decoder.start(memory)
        if not self.image_init:
            state["rnn"] = tuple(torch.zeros_like(part) for part in state["rnn"])
        return state

    def decode(self, memory: Memory, tokens: torch.Tensor, owner: torch.Tensor | None = None):
        """Teacher forcing over ``memory``. ``tokens (N, T)`` start with ``<bos>``; caption n
        describes image ``owner[n]`` (default: image n). Returns logits ``(N, T, V)``,
        attention ``(N, T, S)`` and the memory rows of the captions ``(N, S, F)``."""
        if owner is not None:
            memory = select_rows(memory, owner)
        logits, _, weights = self.decoder(tokens, self.start(memory), return_attention=True)
        return logits, weights, memory

    def teacher_force(self, images: torch.Tensor, tokens: torch.Tensor,
                      owner: torch.Tensor | None = None):
        """:meth:`decode` over the encoding of ``images (B, 3, H, W)``."""
        return self.decode(self.encode(images), tokens, owner)

    def decode_loss(self, memory: Memory, tokens: torch.Tensor,
                    owner: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(cross-entropy per token, attention penalty, tokens)`` of captions ``(N, T+1)``
        that run from ``<bos>`` to ``<eos>``, right-padded."""
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        logits, weights, memory = self.decode(memory, inputs, owner)
        steps = targets != self.pad_id  # (N, T)
        items = int(steps.sum())
        ce = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                             ignore_index=self.pad_id, reduction="sum") / max(items, 1)
        return ce, attention_penalty(weights.float(), steps, memory.mask), items

    def forward(self, images: torch.Tensor, tokens: torch.Tensor,
                owner: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The training loss terms, :meth:`decode_loss` over the encoding of ``images``
        (the forward pass, so that DDP and ``torch.compile`` wrap it)."""
        return self.decode_loss(self.encode(images), tokens, owner)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, beam: int, max_len: int,
                 memory: Memory | None = None) -> list[list[int]]:
        """Beam search for every image at once: the best caption's ids (no bos/eos) each."""
        memory = memory if memory is not None else self.encode(images)
        start = torch.full((memory.features.size(0),), self.bos_id, dtype=torch.long,
                           device=memory.features.device)
        return beam_best(self.decoder.step, self.start(memory), start, self.eos_id, beam,
                         max_len + 1)

    @torch.no_grad()
    def attention(self, memory: Memory, captions: list[list[int]]) -> list[torch.Tensor]:
        """The attention ``(len(caption), S)`` behind each word of each image's caption, over
        the images' ``memory`` (from :meth:`encode`, so that captioning encodes them once)."""
        tokens = pad([[self.bos_id] + ids for ids in captions], self.pad_id)[0]
        _, weights, _ = self.decode(memory, tokens.to(memory.features.device))
        return [weights[i, : len(ids)].float().cpu() for i, ids in enumerate(captions)]

    @staticmethod
    def pooled(memory: Memory) -> torch.Tensor:
        """Mean of the real grid features: ``(B, S, F)`` -> ``(B, F)``."""
        mask = memory.mask.unsqueeze(-1).to(memory.features.dtype)
        return (memory.features * mask).sum(1) / mask.sum(1).clamp(min=1)

    def encoder_stamp(self) -> float:
        """A checksum of the encoder's weights, to tell whether the bank is up to date."""
        total = 0.0
        for i, param in enumerate(self.encoder.parameters()):
            total += (i + 1) * float(param.detach().double().sum())
        return total

    def bank_ready(self) -> bool:
        """Whether the bank holds features computed with the current encoder."""
        return self.bank.numel() > 0 and float(self.bank_stamp) == self.encoder_stamp()

    @torch.no_grad()
    def recalibrate_norms(self, batches) -> None:
        """Recompute the running statistics of the encoder's trainable batch norms from image
        batches ``(b, 3, H, W)`` with the current weights (precise batch norm). Their running
        averages lag behind weights that change fast, which makes eval-mode outputs noisy."""
        norms = [m for m in self.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and m.track_running_stats and any(p.requires_grad for p in m.parameters())]
        if not norms:
            return
        saved = [(m.momentum, m.training) for m in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the batches below
            norm.train()
        for images in batches:
            self.encode(images)
        for norm, (momentum, training) in zip(norms, saved):
            norm.momentum = momentum
            norm.train(training)

    @torch.no_grad()
    def fill_bank(self, batches) -> None:
        """Recompute the bank from an iterable of image batches ``(b, 3, H, W)``."""
        rows = [self.pooled(self.encode(images)).float() for images in batches]
        self.bank.copy_(torch.cat(rows)[: self.bank.size(0)])
        self.bank_stamp.fill_(self.encoder_stamp())

    @torch.no_grad()
    def nearest(self, pooled: torch.Tensor) -> torch.Tensor:
        """The index ``(B,)`` of the bank's entry closest (cosine) to each pooled ``(B, F)``."""
        query = F.normalize(pooled.float(), dim=-1)
        keys = F.normalize(self.bank.float(), dim=-1)
        return (query @ keys.T).argmax(dim=-1)


def build_model(config: CaptionConfig, encoder: Encoder, vocab_size: int, special: dict,
                bank_size: int) -> CaptionModel:
    """The decoder the config describes, over ``encoder``; ``special`` maps bos/eos/pad to ids."""
    decoder = Decoder(vocab_size, config.embed_size, config.hidden_size, config.num_layers,
                      config.cell, config.dropout, attention="bahdanau",
                      memory_size=encoder.output_size, attention_size=config.attention_size,
                      input_feeding=config.input_feeding, gate=True, pad_id=special["pad"])
    return CaptionModel(encoder, decoder, special["bos"], special["eos"], special["pad"],
                        config.attention_penalty, bank_size, config.image_init)
