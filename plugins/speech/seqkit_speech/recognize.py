"""From per-frame CTC logits to text: greedy or prefix beam search (the core's ``seqkit.ctc``),
and the alignment of emitted tokens to frames."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from seqkit.ctc import greedy_decode, prefix_beam_search
from seqkit.tokenizers import TextTokenizer

BLANK = 0  # the tokenizer's <pad> id doubles as the CTC blank


def decode(logits: torch.Tensor, lengths: torch.Tensor, beam: int = 1) -> list[list[int]]:
    """Token ids of each row of ``logits (B, S, C)`` over ``lengths (B,)`` frames."""
    log_probs = logits.float().log_softmax(-1)
    if beam <= 1:
        return greedy_decode(log_probs, lengths, blank=BLANK)
    return [hyps[0][0] if hyps else [] for hyps in
            prefix_beam_search(log_probs, lengths, beam=beam, blank=BLANK)]


def to_text(ids: list[int], tokenizer: TextTokenizer) -> str:
    """The transcript of token ids (characters joined, words separated by spaces)."""
    return tokenizer.decode(ids).strip()


@dataclass
class Emission:
    """One token of the best path: which frames emitted it."""

    token: str  # the character or word
    first: int  # the first frame of its run
    last: int  # the last frame of its run
    seconds: float  # the time of its first frame


def alignment(logits: torch.Tensor, tokenizer: TextTokenizer, frame_seconds: float,
              offset: float = 0.0) -> list[Emission]:
    """The greedy path of ``logits (S, C)`` as emissions: each run of one non-blank class;
    times are ``frame * frame_seconds - offset`` (the silence padded before the audio)."""
    best = logits.argmax(-1).tolist()
    out: list[Emission] = []
    for frame, cls in enumerate(best):
        if cls == BLANK:
            continue
        if frame and best[frame - 1] == cls:
            out[-1].last = frame
        else:
            out.append(Emission(tokenizer.id_to_token(cls), frame, frame,
                               max(0.0, frame * frame_seconds - offset)))
    return out
