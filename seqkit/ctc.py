"""CTC decoding: greedy collapse, prefix beam search, and word-level search with a lexicon.

Every function takes per-step log-probabilities ``log_probs (B, S, C)`` (batch-first, as a
``StepClassifier`` gives them after ``log_softmax(-1)``) and the valid length of every row,
``lengths (B,)``; steps past a row's length are padding and never read.

- :func:`greedy_decode`: the best class per step, repeats collapsed, blanks dropped.
- :func:`prefix_beam_search`: the label sequences of highest probability, each summed over all
  of its alignments (Graves 2012; Hannun et al. 2014), written here because torchaudio's decoder
  keeps the best alignment only (its sum mode needs the flashlight build) and works on the CPU
  in float32 only.
- :class:`LexiconSearch` (and the one-off :func:`lexicon_beam_search`): words from a lexicon,
  optionally scored by a KenLM model, through torchaudio's ``ctc_decoder`` (needs the
  ``flashlight-text`` package: the ``ctc`` extra).
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from seqkit.errors import SeqkitError

NEG_INF = float("-inf")


def _check(log_probs: torch.Tensor, lengths, blank: int) -> torch.Tensor:
    """Validate the inputs; return the lengths as a CPU long tensor ``(B,)``."""
    if log_probs.dim() != 3:
        raise SeqkitError(f"CTC decoding wants log-probabilities (B, S, C); got shape "
                          f"{tuple(log_probs.shape)}. Add a batch dimension for one sequence.")
    batch, steps, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise SeqkitError(f"blank={blank} is not a class of the {classes} in log_probs; "
                          f"pass the index of the CTC blank.")
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.long)
    lengths = torch.as_tensor(lengths).long().cpu()
    if lengths.shape != (batch,):
        raise SeqkitError(f"lengths must have shape ({batch},), one per row; got "
                          f"{tuple(lengths.shape)}.")
    if batch and (lengths.min() < 0 or lengths.max() > steps):
        raise SeqkitError(f"lengths must lie in 0..{steps} (the steps of log_probs); got "
                          f"{lengths.tolist()}.")
    return lengths


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | None = None,
                  blank: int = 0) -> list[list[int]]:
    """Best-path decoding of ``log_probs (B, S, C)`` over ``lengths (B,)`` valid steps.

    Takes the best class per step, merges runs of the same class and drops blanks, so that
    ``a _ a`` gives ``[a, a]`` and ``a a`` gives ``[a]``. Returns one list of class ids per row.
    """
    lengths = _check(log_probs, lengths, blank)
    best = log_probs.argmax(-1).cpu()  # (B, S)
    previous = torch.cat([torch.full_like(best[:, :1], -1), best[:, :-1]], dim=1)
    valid = torch.arange(best.shape[1])[None, :] < lengths[:, None]  # (B, S)
    keep = (best != previous) & (best != blank) & valid
    return [row[k].tolist() for row, k in zip(best, keep)]


def _logadd(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without overflow."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def _extend(beams: dict, frame: list[float], classes: list[int], blank: int) -> dict:
    """One step of prefix search: every prefix ``(p_blank, p_label)`` times every class."""
    out: dict = {}
    for prefix, (p_blank, p_label) in beams.items():
        total = _logadd(p_blank, p_label)
        last = prefix[-1] if prefix else None
        for c in classes:
            p = frame[c]
            if c == blank:  # the prefix stays, now ending in a blank
                b, n = out.get(prefix, (NEG_INF, NEG_INF))
                out[prefix] = (_logadd(b, total + p), n)
            elif c == last:  # a repeat merges unless a blank came between
                b, n = out.get(prefix, (NEG_INF, NEG_INF))
                out[prefix] = (b, _logadd(n, p_label + p))
                longer = prefix + (c,)
                b, n = out.get(longer, (NEG_INF, NEG_INF))
                out[longer] = (b, _logadd(n, p_blank + p))
            else:
                longer = prefix + (c,)
                b, n = out.get(longer, (NEG_INF, NEG_INF))
                out[longer] = (b, _logadd(n, total + p))
    return out


def prefix_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor | None = None,
                       beam: int = 8, blank: int = 0, top_k: int | None = None
                       ) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search over ``log_probs (B, S, C)`` with ``lengths (B,)`` valid steps.

    Keeps the ``beam`` label prefixes of highest probability, each summed over all of its
    alignments (separately for alignments ending in a blank and in a label, so that ``a _ a``
    and ``a a`` extend differently). ``top_k`` considers only the k most likely classes of each
    step (and the blank), which speeds up large vocabularies. With a beam as wide as the number
    of prefixes the search is exact. Returns, per row, up to ``beam`` ``(tokens, log_prob)``
    pairs, best first.
    """
    lengths = _check(log_probs, lengths, blank)
    if beam < 1:
        raise SeqkitError(f"beam must be at least 1; got {beam}.")
    rows = log_probs.detach().float().cpu()
    results = []
    for row, length in zip(rows, lengths.tolist()):
        beams: dict = {(): (0.0, NEG_INF)}
        for frame in row[:length]:
            if top_k is not None and top_k < frame.numel():
                classes = set(frame.topk(top_k).indices.tolist()) | {blank}
            else:
                classes = range(frame.numel())
            beams = _extend(beams, frame.tolist(), list(classes), blank)
            scored = [(_logadd(*scores), prefix) for prefix, scores in beams.items()]
            scored = sorted((s for s in scored if s[0] > NEG_INF), key=lambda s: -s[0])[:beam]
            beams = {prefix: beams[prefix] for _, prefix in scored}  # impossible ones dropped
        hyps = [(list(prefix), _logadd(*scores)) for prefix, scores in beams.items()]
        results.append(sorted(hyps, key=lambda h: -h[1]))
    return results


@dataclass
class WordHypothesis:
    """One result of :func:`lexicon_beam_search`."""

    words: list[str]  # the decoded words
    tokens: list[int]  # class ids, word boundaries included, none at either end
    score: float  # log-prob of the best alignment + lm_weight * LM log-prob + word_score per word


def _write_lexicon(path: Path, lexicon: dict[str, list[list[int]]]) -> None:
    """Write a flashlight lexicon file (``word t3 t1 t2`` per spelling), class ids named
    ``t<id>`` so that no character of the vocabulary needs escaping."""
    lines = []
    for word, spellings in lexicon.items():
        if not word or any(ch.isspace() for ch in word):
            raise SeqkitError(f"lexicon word {word!r} is empty or holds whitespace; words are "
                              f"single tokens without spaces.")
        for spelling in spellings:
            lines.append(" ".join([word] + [f"t{t}" for t in spelling]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_lexicon(lexicon: dict, classes: int, blank: int, boundary: int, lm) -> None:
    """Refuse a lexicon, boundary or LM file that the decoder could not use."""
    if lm is not None and not Path(lm).is_file():
        raise SeqkitError(f"language model file {lm} does not exist; pass a KenLM .arpa or "
                          f".bin file, or lm=None.")
    if not 0 <= boundary < classes or boundary == blank:
        raise SeqkitError(f"boundary={boundary} must be a class (0..{classes - 1}) other than "
                          f"the blank.")
    bad = [w for w, spellings in lexicon.items() if not spellings or any(
        not spelling or any(not 0 <= t < classes or t == blank for t in spelling)
        for spelling in spellings)]
    if not lexicon or bad:
        raise SeqkitError(f"the lexicon is empty or spells {bad[:3]} with no class ids, the blank "
                          f"or ids outside 0..{classes - 1}; map each word to non-empty lists of "
                          f"class ids.")


class LexiconSearch:
    """Word-level CTC beam search: only words of a lexicon, optionally scored by a KenLM model.

    Built once (the LM is loaded here), then called on every batch. ``lexicon`` maps each word
    to its spellings as class ids (e.g. ``{"cab": [[3, 1, 2]]}``); ``boundary`` is the class
    between words (a space or ``|`` class), optional at the start and the end; ``classes`` is C.
    ``lm`` is a KenLM file (ARPA or binary) over the same words; without it every word scores
    ``word_score``. Runs torchaudio's ``ctc_decoder`` (flashlight: best alignment, not the sum)
    on the CPU; needs the ``ctc`` extra.
    """

    def __init__(self, lexicon: dict[str, list[list[int]]], boundary: int, classes: int,
                 lm: str | Path | None = None, beam: int = 8, nbest: int = 1, blank: int = 0,
                 lm_weight: float = 2.0, word_score: float = 0.0):
        try:
            from torchaudio.models.decoder import ctc_decoder
            ctc_decoder.__name__  # noqa: B018 - resolving the name imports flashlight-text
        except (ImportError, RuntimeError) as err:
            raise SeqkitError("LexiconSearch needs torchaudio and flashlight-text: "
                              "pip install -c constraints.txt 'seqkit[ctc]'.") from err
        _check_lexicon(lexicon, classes, blank, boundary, lm)
        self.boundary, self.blank, self.classes = boundary, blank, classes
        names = [f"t{i}" for i in range(classes)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "lexicon.txt"
            _write_lexicon(path, lexicon)
            self.decoder = ctc_decoder(
                lexicon=str(path), tokens=names, lm=None if lm is None else str(lm),
                nbest=nbest, beam_size=beam, lm_weight=lm_weight, word_score=word_score,
                blank_token=names[blank], sil_token=names[boundary])

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor | None = None
                 ) -> list[list[WordHypothesis]]:
        """Decode ``log_probs (B, S, C)`` over ``lengths (B,)``: ``nbest`` per row, best first."""
        lengths = _check(log_probs, lengths, self.blank)
        if log_probs.shape[-1] != self.classes:
            raise SeqkitError(f"log_probs have {log_probs.shape[-1]} classes but the search was "
                              f"built for {self.classes}.")
        emissions = log_probs.detach().float().cpu().contiguous()
        found = self.decoder(emissions, lengths.to(torch.int32))
        return [[self._hypothesis(hyp) for hyp in hyps] for hyps in found]

    def _hypothesis(self, hyp) -> WordHypothesis:
        """A flashlight result without the boundaries it adds at either end."""
        tokens = hyp.tokens.tolist()
        while tokens and tokens[0] == self.boundary:
            tokens.pop(0)
        while tokens and tokens[-1] == self.boundary:
            tokens.pop()
        return WordHypothesis(list(hyp.words), tokens, float(hyp.score))


def lexicon_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor | None,
                        lexicon: dict[str, list[list[int]]], boundary: int,
                        lm: str | Path | None = None, beam: int = 8, nbest: int = 1,
                        blank: int = 0, lm_weight: float = 2.0, word_score: float = 0.0,
                        ) -> list[list[WordHypothesis]]:
    """One-off :class:`LexiconSearch` over ``log_probs (B, S, C)`` and ``lengths (B,)``.

    Builds the search (and loads the LM) on every call: for many batches build a
    :class:`LexiconSearch` once and call it.
    """
    search = LexiconSearch(lexicon, boundary, log_probs.shape[-1], lm=lm, beam=beam,
                           nbest=nbest, blank=blank, lm_weight=lm_weight, word_score=word_score)
    return search(log_probs, lengths)
