"""Translating with a trained run: from Python, ``seqkit predict``, and the demo.

::

    import seqkit
    from seqkit_translate import translate
    run = seqkit.load("runs/g2p")
    best = translate(run, ["tomato"], beam=5, nbest=3)[0]
    best.text                 # "T AH0 M EY1 T OW2"
    best.nbest                # [("T AH0 M EY1 T OW2", -0.21), ("T AH0 M AA1 T OW2", -1.3), ...]
    best.attention.shape      # (target tokens, source tokens): where each output token looked
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch

from seqkit.batching import pad
from seqkit.config import bounded
from seqkit.errors import SeqkitError
from seqkit.rundir import Run

BATCH = 64  # sentences decoded together


@dataclass
class PredictOptions:
    """Options of ``seqkit predict RUN`` for translation."""

    text: str = ""  # the sentence to translate; "": one sentence per line on standard input
    beam: int = bounded(0, ">= 0")  # beam size (1: greedy search; 0: the run's own setting)
    nbest: int = bounded(1, ">= 1")  # print this many hypotheses per sentence, with scores
    length_penalty: float = bounded(-1.0, ">= -1")  # GNMT alpha (-1: the run's own setting)


@dataclass
class Translation:
    """One translated sentence."""

    source: str  # the input as given
    text: str  # the best translation, detokenised
    score: float  # its log-probability over the length penalty
    nbest: list[tuple[str, float]]  # every hypothesis kept, best first, with its score
    source_tokens: list[str] = field(default_factory=list)  # what the encoder read
    target_tokens: list[str] = field(default_factory=list)  # the best translation's tokens
    attention: torch.Tensor | None = None  # (len(target_tokens), len(source_tokens)) weights
    unknown: list[str] = field(default_factory=list)  # input symbols the vocabulary lacks (<unk>)


def cleaned(run: Run, texts: list[str]) -> list[str]:
    """The inputs as the model reads them: stripped, lowercased if the run was."""
    return [t.strip().lower() if run.config.lowercase else t.strip() for t in texts]


def source_ids(run: Run, texts: list[str]) -> list[list[int]]:
    """Token ids of each input, empty ones refused, long ones cut or refused as configured."""
    config = run.config
    if not texts:
        raise SeqkitError("nothing to translate: give a sentence")
    texts = cleaned(run, texts)
    for i, text in enumerate(texts):
        if not text:
            raise SeqkitError(f"input {i + 1} is empty: give a sentence to translate")
    from seqkit_translate.data import encode_sources  # the same rules as the training data

    return encode_sources(texts, config, run.assets, "the input")


def _settings(run: Run, beam: int | None, length_penalty: float | None) -> tuple[int, float]:
    beam = run.config.beam if not beam else beam
    alpha = run.config.length_penalty if length_penalty is None or length_penalty < 0 \
        else length_penalty
    return beam, alpha


@torch.no_grad()
def translate(run: Run, texts: list[str], beam: int | None = None, nbest: int = 1,
              length_penalty: float | None = None, attention: bool = False,
              batch: int = BATCH, score: bool = True) -> list[Translation]:
    """Translate ``texts`` in batches of ``batch`` sentences (sorted by length) with beam
    search (``beam`` 1: greedy); keep ``nbest`` hypotheses each (``beam`` is raised to
    ``nbest`` if smaller), and with ``attention`` the weights behind the best one. Greedy
    results are scored by one more teacher-forced pass; ``score=False`` skips it (their
    score is then NaN)."""
    beam, alpha = _settings(run, beam, length_penalty)
    beam = max(beam, nbest)
    ids, read = source_ids(run, texts), cleaned(run, texts)
    model, src_tok, tgt_tok = run.model.eval(), run.assets.source, run.assets.target
    device = next(model.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[Translation | None] = [None] * len(ids)
    for start in range(0, len(order), batch):
        rows = order[start: start + batch]
        src, lengths = pad([ids[i] for i in rows], src_tok.pad_id)
        memory = model.encode(src.to(device), lengths.to(device))
        steps = model.max_steps(lengths, run.config.max_ratio, run.config.max_length)
        if beam == 1:  # greedy search's fast path, scored afterwards in one pass
            best = model.generate(memory, 1, steps)
            values = model.score(memory, best, alpha) if score else [math.nan] * len(best)
            hyps = [[(b, s)] for b, s in zip(best, values)]
        else:
            hyps = model.nbest(memory, beam, steps, alpha)
            best = [h[0][0] if h else [] for h in hyps]
        weights = model.attention(memory, best) if attention else [None] * len(rows)
        for row, i in enumerate(rows):
            kept = [(tgt_tok.decode(t), s) for t, s in hyps[row][:nbest]] or [("", float("-inf"))]
            out[i] = Translation(texts[i], kept[0][0], kept[0][1], kept,
                                 [src_tok.id_to_token(t) for t in ids[i]],
                                 [tgt_tok.id_to_token(t) for t in best[row]], weights[row],
                                 src_tok.unknown(read[i]))
    return out


def read_stdin() -> list[str]:
    """Non-empty lines of standard input (one sentence each)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise SeqkitError("give --text \"...\", or pipe one sentence per line into standard input")
    lines = [line.strip() for line in sys.stdin.read().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise SeqkitError("standard input holds no sentence to translate")
    return lines


def predict(run: Run, options: PredictOptions) -> str:
    """``seqkit predict RUN --text "..."`` (or lines on standard input): one translation per
    line; with ``--nbest N``, N scored hypotheses under each input."""
    texts = [options.text] if options.text else read_stdin()
    results = translate(run, texts, options.beam or None, options.nbest,
                        options.length_penalty, score=options.nbest > 1)
    unknown = sorted({u for r in results for u in r.unknown})
    if unknown:
        print(f"seqkit: warning: symbols not in the vocabulary were read as <unk>: "
              f"{' '.join(unknown[:20])}", file=sys.stderr)
    if options.nbest == 1:
        return "\n".join(r.text for r in results)
    lines = []
    for r in results:
        lines.append(r.source)
        lines += [f"  {score:8.3f}  {text}" for text, score in r.nbest]
    return "\n".join(lines)
