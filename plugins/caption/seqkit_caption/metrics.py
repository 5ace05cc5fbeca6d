"""Caption metrics over a corpus: BLEU-1..4 (the core's sacrebleu BLEU), CIDEr-D, exact match.

Every function takes one candidate per image and that image's references (any number each), all
already normalised (lower case, words separated by single spaces).
"""
from __future__ import annotations

import math
from collections import Counter

from seqkit import metrics as text_metrics

SIGMA = 6.0  # CIDEr-D's length penalty width, in words
MAX_N = 4  # n-gram orders of BLEU-4 and CIDEr-D


def _bleu_orders(candidates: list[str], references: list[list[str]], order: int) -> dict:
    """BLEU-1..``order`` from one pass of the core's sacrebleu BLEU, the coco-caption way.

    No re-tokenisation (the captions are tokenised already) and no smoothing; sacrebleu's
    brevity penalty takes each candidate's closest reference length, as coco-caption does.
    """
    return text_metrics.bleu(candidates, references, max_order=order, tokenize="none",
                             smooth="none")


def bleu(candidates: list[str], references: list[list[str]], order: int = 4) -> float:
    """Corpus BLEU-``order`` (0..100) against all references of every image (0 for none)."""
    if not candidates:
        return 0.0
    return _bleu_orders(candidates, references, order)[f"bleu{order}"]


def _ngrams(words: list[str], max_n: int) -> Counter:
    return Counter(tuple(words[i: i + n]) for n in range(1, max_n + 1)
                   for i in range(len(words) - n + 1))


def _vector(counts: Counter, idf, max_n: int) -> tuple[list[dict], list[float]]:
    """tf-idf vectors and their norms, one per n-gram order."""
    vectors: list[dict] = [{} for _ in range(max_n)]
    for gram, count in counts.items():
        vectors[len(gram) - 1][gram] = count * idf(gram)
    norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in vectors]
    return vectors, norms


def _similarity(cand: tuple, ref: tuple, delta: int, max_n: int) -> list[float]:
    """Per order: the clipped cosine of candidate and reference, times the length penalty."""
    (cvec, cnorm), (rvec, rnorm) = cand, ref
    penalty = math.exp(-(delta ** 2) / (2 * SIGMA ** 2))
    out = []
    for n in range(max_n):
        if cnorm[n] == 0 or rnorm[n] == 0:
            out.append(0.0)
            continue
        dot = sum(min(value, rvec[n].get(gram, 0.0)) * rvec[n].get(gram, 0.0)
                  for gram, value in cvec[n].items())
        out.append(dot / (cnorm[n] * rnorm[n]) * penalty)
    return out


def cider_d_scores(candidates: list[str], references: list[list[str]],
                   max_n: int = MAX_N) -> list[float]:
    """CIDEr-D of every candidate (Vedantam et al. 2015, as coco-caption computes it).

    n-grams are weighted by tf-idf, the document frequency counting the images whose references
    hold the n-gram, ``idf = log(images) - log(max(1, df))``. Per order n, a candidate scores the
    mean over its references of the cosine of their vectors, where the candidate's counts are
    clipped at the reference's, times ``exp(-(len_c - len_r)^2 / (2 * 6^2))``. The score is
    10 times the mean over the orders 1..max_n.
    """
    ref_counts = [[_ngrams(r.split(), max_n) for r in refs] for refs in references]
    frequency: Counter = Counter()
    for counts in ref_counts:
        frequency.update(set().union(*counts))
    log_images = math.log(max(len(references), 1))

    def idf(gram: tuple) -> float:
        """Inverse document frequency of an n-gram over the images' reference sets."""
        return log_images - math.log(max(1.0, frequency[gram]))

    scores = []
    for cand, refs, counts in zip(candidates, references, ref_counts):
        words = cand.split()
        cand_vec = _vector(_ngrams(words, max_n), idf, max_n)
        total = [0.0] * max_n
        for ref, ref_count in zip(refs, counts):
            sims = _similarity(cand_vec, _vector(ref_count, idf, max_n),
                               len(words) - len(ref.split()), max_n)
            total = [t + s for t, s in zip(total, sims)]
        scores.append(10.0 * sum(total) / max_n / max(len(refs), 1))
    return scores


def cider_d(candidates: list[str], references: list[list[str]], max_n: int = MAX_N) -> float:
    """Corpus CIDEr-D: the mean of :func:`cider_d_scores` (0 for no candidates)."""
    scores = cider_d_scores(candidates, references, max_n)
    return sum(scores) / len(scores) if scores else 0.0


def exact_match(candidates: list[str], references: list[list[str]]) -> float:
    """Fraction of candidates equal to one of their references."""
    if not candidates:
        return 0.0
    return sum(c in refs for c, refs in zip(candidates, references)) / len(candidates)


def caption_metrics(candidates: list[str], references: list[list[str]],
                    prefix: str = "") -> dict[str, float]:
    """``bleu1``..``bleu4`` and ``cider``, each key starting with ``prefix``."""
    orders = _bleu_orders(candidates, references, MAX_N) if candidates else {}
    out = {f"{prefix}bleu{n}": orders.get(f"bleu{n}", 0.0) for n in range(1, MAX_N + 1)}
    out[f"{prefix}cider"] = cider_d(candidates, references)
    return out
