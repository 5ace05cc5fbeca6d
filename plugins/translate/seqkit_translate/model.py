"""The translator: the core ``Seq2Seq`` with a bidirectional RNN ``Encoder`` over source
embeddings and an attending ``Decoder`` with input feeding (Luong et al. 2015), started from a
learnt bridge of the encoder's final states.

Three attention scores are selectable: Bahdanau (additive), Luong-general (``q^T W k``, the
core's ``LuongAttention``) and Luong-dot (``q^T k``, :class:`DotAttention` here, which needs a
memory as wide as the decoder).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from seqkit.attention import _attend
from seqkit.batching import pad
from seqkit.decoder import Decoder
from seqkit.decoding import beam_search
from seqkit.encoder import Encoder, Memory, TokenEmbedding
from seqkit.seq2seq import Seq2Seq
from seqkit_translate.config import TranslateConfig

Hypothesis = tuple[list[int], float]  # target ids without <bos>/<eos>, normalised log-prob


class DotAttention(nn.Module):
    """score(q, k) = q^T k (Luong "dot"): no parameters; keys are the memory features."""

    def prepare(self, features: Tensor) -> Tensor:
        """The keys are the features themselves: ``(B, S, K) -> (B, S, K)``."""
        return features

    def forward(self, query: Tensor, keys: Tensor, features: Tensor, mask: Tensor):
        """``query (B, K)`` -> ``context (B, K)``, ``weights (B, S)`` (zero at padding)."""
        scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S)
        return _attend(scores, features, mask)


class TranslateModel(Seq2Seq):
    """Source ids ``(B, S)`` -> target loss terms (``Seq2Seq``), best and n-best targets."""

    def max_steps(self, src_lengths: Tensor, ratio: float, cap: int) -> int:
        """Most target tokens to generate for sources of ``src_lengths (B,)``."""
        return max(1, min(cap, int(ratio * int(src_lengths.max())) + 10))

    @torch.no_grad()
    def nbest(self, memory: Memory, beam: int, max_len: int, length_penalty: float = 1.0
              ) -> list[list[Hypothesis]]:
        """Up to ``beam`` hypotheses per memory row, best first, each ``(ids, score)`` with
        the score the summed log-probability over the GNMT length penalty. Beam 1 is greedy
        search (its score is reported the same way)."""
        state, memory, start = self.search_start(memory, beam)
        return beam_search(self.decoder.step, state, start, self.eos_id, beam, max_len + 1,
                           length_penalty, memory=memory)

    @torch.no_grad()
    def score(self, memory: Memory, targets: list[list[int]], length_penalty: float = 1.0
              ) -> list[float]:
        """Each row's target (ids without ``<bos>``/``<eos>``) scored as beam search scores
        a finished hypothesis: summed log-probabilities with ``<eos>``, over the GNMT length
        penalty ``((5 + len) / 6) ** alpha`` of its length with ``<eos>``."""
        device = memory.features.device
        inputs, _ = pad([[self.bos_id] + list(t) for t in targets], self.pad_id)
        gold, lengths = pad([list(t) + [self.eos_id] for t in targets], self.pad_id)
        logits, _, _ = self.decode(memory, inputs.to(device))
        log_probs = logits.float().log_softmax(-1).gather(-1, gold.to(device).unsqueeze(-1))
        real = torch.arange(gold.size(1), device=device).unsqueeze(0) < lengths.to(device)[:, None]
        sums = (log_probs.squeeze(-1) * real).sum(1).tolist()
        return [total / ((5 + n) / 6) ** length_penalty
                for total, n in zip(sums, lengths.tolist())]


def build_model(config: TranslateConfig, src_vocab: int, tgt_vocab: int, special: dict,
                src_pad: int, shared: bool) -> TranslateModel:
    """The model ``config`` describes; ``special`` maps the target's bos/eos/pad to ids. With
    a ``shared`` vocabulary and ``share_embeddings`` the encoder reads the decoder's embedding
    (itself tied to the output layer with ``tie_embeddings``)."""
    frontend = TokenEmbedding(src_vocab, config.embed_size, config.dropout, src_pad)
    encoder = Encoder(frontend, config.embed_size, config.cell, config.encoder_size,
                      config.num_layers, config.dropout, bidirectional=True)
    kind = "bahdanau" if config.attention == "bahdanau" else "luong"
    decoder = Decoder(tgt_vocab, config.embed_size, config.hidden_size, config.num_layers,
                      config.cell, config.dropout, tie_weights=config.tie_embeddings,
                      attention=kind, memory_size=encoder.output_size,
                      attention_size=config.attention_size, input_feeding=config.input_feeding,
                      pad_id=special["pad"], bridge_size=encoder.summary_size)
    if config.attention == "luong-dot":
        decoder.attend = DotAttention()
    if shared and config.share_embeddings:
        frontend.embed = decoder.embed  # one table for both sides (and the output, if tied)
    return TranslateModel(encoder, decoder, special["bos"], special["eos"], special["pad"],
                          label_smoothing=config.label_smoothing)
