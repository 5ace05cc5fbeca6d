"""Corpus text metrics on detokenised text: BLEU and chrF (sacrebleu), WER and CER (jiwer).

Every function takes one candidate string per example and that example's references: either one
string each (``["the cat sat", ...]``) or a list of any number of strings each
(``[["the cat sat", "a cat sat"], ...]``). BLEU and chrF use every reference as their libraries
define it; WER and CER score each candidate against its closest reference (fewest edits), as
grapheme-to-phoneme evaluation does with several accepted pronunciations.

BLEU and chrF are on sacrebleu's 0..100 scale; WER and CER are fractions (0 is perfect, and they
can exceed 1 when the candidate inserts words).
"""
from __future__ import annotations

from typing import Sequence, Union

import jiwer
from sacrebleu.metrics import BLEU, CHRF

from seqkit.errors import SeqkitError

References = Sequence[Union[str, Sequence[str]]]


def _as_lists(candidates: Sequence[str], references: References) -> list[list[str]]:
    """Check the pairing and give every example a list of references."""
    if isinstance(candidates, str) or isinstance(references, str):
        raise SeqkitError("metrics take a list of candidates and a list of references; wrap a "
                          "single sentence in a list: bleu([cand], [ref]).")
    if len(candidates) != len(references):
        raise SeqkitError(f"{len(candidates)} candidates but {len(references)} reference "
                          f"entries; give one entry (a string or a list of strings) per candidate.")
    if not candidates:
        raise SeqkitError("no candidates to score; the evaluation set is empty.")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    for i, r in enumerate(refs):
        if not r:
            raise SeqkitError(f"candidate {i} has no reference; give at least one per candidate.")
    return refs


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: reference stream k holds every example's k-th reference (or None)."""
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def bleu(candidates: Sequence[str], references: References, max_order: int = 4,
         tokenize: str = "13a", smooth: str = "exp", lowercase: bool = False) -> dict:
    """Corpus BLEU and every lower order from one pass of sacrebleu.

    Returns ``{"bleu": BLEU-max_order, "bleu1": ..., "bleu<max_order>": ..., "brevity_penalty",
    "length_ratio", "signature"}`` (scores 0..100; the signature is sacrebleu's reproducibility
    string). BLEU-n is sacrebleu's own formula applied to the first n n-gram counts of the same
    statistics, so it equals a separate sacrebleu run with ``max_ngram_order=n``. ``tokenize``
    is sacrebleu's (``"13a"`` for raw text, ``"none"`` for text tokenised already); ``smooth`` is
    ``"exp"``, ``"floor"``, ``"add-k"`` or ``"none"``.
    """
    refs = _as_lists(candidates, references)
    if smooth not in BLEU.SMOOTH_DEFAULTS:
        raise SeqkitError(f"unknown BLEU smoothing {smooth!r}; use one of "
                          f"{sorted(BLEU.SMOOTH_DEFAULTS)}.")
    # Counted once without smoothing (add-k smoothing would change the counts in place), then
    # scored per order by sacrebleu's own formula with the smoothing asked for.
    metric = BLEU(max_ngram_order=max_order, tokenize=tokenize, smooth_method="none",
                  lowercase=lowercase, force=True)
    score = metric.corpus_score(list(candidates), _streams(refs))
    out: dict = {}
    for n in range(1, max_order + 1):
        order_n = BLEU.compute_bleu(list(score.counts[:n]), list(score.totals[:n]),
                                    score.sys_len, score.ref_len, smooth_method=smooth,
                                    max_ngram_order=n)
        out[f"bleu{n}"] = float(order_n.score)
    out["bleu"] = out[f"bleu{max_order}"]
    metric.smooth_method = smooth  # the signature names the smoothing used
    out["brevity_penalty"] = float(score.bp)
    out["length_ratio"] = score.sys_len / score.ref_len if score.ref_len else 0.0
    out["signature"] = str(metric.get_signature())
    return out


def chrf(candidates: Sequence[str], references: References, word_order: int = 0,
         lowercase: bool = False) -> dict:
    """Corpus chrF (0..100) with sacrebleu; ``word_order=2`` gives chrF++.

    Returns ``{"chrf": score, "signature": sacrebleu's signature}``.
    """
    refs = _as_lists(candidates, references)
    metric = CHRF(word_order=word_order, lowercase=lowercase)
    score = metric.corpus_score(list(candidates), _streams(refs))
    return {"chrf": float(score.score), "signature": str(metric.get_signature())}


def _closest(candidates: Sequence[str], refs: list[list[str]], process) -> list[str]:
    """Each candidate's reference with the fewest edits (ties: the longer reference)."""
    chosen = []
    for cand, options in zip(candidates, refs):
        if len(options) == 1:
            chosen.append(options[0])
            continue
        costs = []
        for ref in options:
            out = process(ref, cand)
            errors = out.substitutions + out.deletions + out.insertions
            costs.append((errors, -(out.hits + out.substitutions + out.deletions)))
        chosen.append(options[min(range(len(options)), key=costs.__getitem__)])
    return chosen


def wer(candidates: Sequence[str], references: References) -> float:
    """Corpus word error rate (jiwer): edits over reference words, summed over the corpus.

    Words are split on whitespace; with several references a candidate is scored against the
    one it is closest to.
    """
    refs = _as_lists(candidates, references)
    chosen = _closest(candidates, refs, jiwer.process_words)
    return float(jiwer.process_words(chosen, list(candidates)).wer)


def cer(candidates: Sequence[str], references: References) -> float:
    """Corpus character error rate (jiwer), spaces included; closest reference as in :func:`wer`."""
    refs = _as_lists(candidates, references)
    chosen = _closest(candidates, refs, jiwer.process_characters)
    return float(jiwer.process_characters(chosen, list(candidates)).cer)
