"""Core text metrics on sacrebleu and jiwer: values counted by hand, every BLEU order from one
call, several references per candidate, and clear errors for malformed input."""
from __future__ import annotations

import math

import pytest
from sacrebleu.metrics import BLEU

from seqkit.errors import SeqkitError
from seqkit.metrics import bleu, cer, chrf, wer

CANDIDATE = "The cat sat on the mat."
REFERENCE = "The cat sat on a mat."


def test_bleu_by_hand():
    # 13a tokenisation splits off the full stop: 7 tokens each. Matching n-grams (case counts:
    # "the" is not "The"): 6/7 unigrams, 4/6 bigrams, 2/5 trigrams, 1/4 4-grams; equal lengths.
    scores = bleu([CANDIDATE], [REFERENCE])
    assert scores["bleu1"] == pytest.approx(100 * 6 / 7)
    assert scores["bleu2"] == pytest.approx(100 * math.sqrt(6 / 7 * 4 / 6))
    assert scores["bleu4"] == pytest.approx(100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25)
    assert scores["bleu"] == scores["bleu4"]
    assert scores["brevity_penalty"] == 1.0 and scores["length_ratio"] == 1.0
    assert "tok:13a" in scores["signature"] and "smooth:exp" in scores["signature"]
    # Without tokenisation "mat." is one word and matches: 5/6 unigrams.
    assert bleu([CANDIDATE], [REFERENCE], tokenize="none")["bleu1"] == pytest.approx(100 * 5 / 6)
    # Half the reference length: brevity penalty exp(1 - 4/2).
    short = bleu(["a b"], [["a b c d"]], tokenize="none", smooth="none")
    assert short["brevity_penalty"] == pytest.approx(math.exp(-1))
    assert short["bleu1"] == pytest.approx(100 * math.exp(-1))
    assert short["bleu4"] == 0.0  # no 3- or 4-grams and no smoothing


@pytest.mark.parametrize("smooth", ["exp", "none", "floor", "add-k"])
def test_every_order_equals_a_separate_sacrebleu_run(smooth):
    candidates = ["The quick brown fox jumps over the dog.", "A man rides a bike, fast!",
                  "Nothing matches here", "Two dogs play in the snow"]
    references = [["The quick brown fox jumped over the lazy dog.", "A fast fox jumps."],
                  "A man is riding a bike fast!",
                  ["Something else", "entirely", "different"],
                  ["Two dogs are playing in the snow", "Dogs play in snow"]]
    scores = bleu(candidates, references, smooth=smooth)
    lists = [[r] if isinstance(r, str) else r for r in references]
    streams = [[refs[k] if k < len(refs) else None for refs in lists] for k in range(3)]
    for n in range(1, 5):
        alone = BLEU(max_ngram_order=n, smooth_method=smooth).corpus_score(candidates, streams)
        assert scores[f"bleu{n}"] == pytest.approx(alone.score, rel=1e-12), n
    assert 0 < scores["bleu4"] < scores["bleu3"] < scores["bleu2"] < scores["bleu1"] < 100


def test_chrf_takes_the_best_reference():
    assert chrf([CANDIDATE], [[REFERENCE, CANDIDATE]])["chrf"] == pytest.approx(100.0)
    partial = chrf([CANDIDATE], [REFERENCE])
    assert 50 < partial["chrf"] < 100 and "nw:0" in partial["signature"]
    plus = chrf([CANDIDATE], [REFERENCE], word_order=2)
    assert plus["chrf"] != partial["chrf"] and "nw:2" in plus["signature"]  # word n-grams too


def test_wer_and_cer_by_hand():
    # Reference "a b c", candidate "a c": one deletion over 3 reference words (not 1/2, which
    # swapping candidate and reference would give).
    assert wer(["a c"], ["a b c"]) == pytest.approx(1 / 3)
    # Corpus rate: all edits over all reference words, 1 + 2 over 3 + 2, not a mean of rates.
    assert wer(["a c", "x y z w"], ["a b c", "x y"]) == pytest.approx(3 / 5)
    assert wer(["  a   b "], ["a b"]) == 0.0  # whitespace is not a word
    # "kitten" -> "sitting": 2 substitutions and 1 insertion over 7 reference characters.
    assert cer(["kitten"], ["sitting"]) == pytest.approx(3 / 7)
    assert cer(["a b"], ["ab"]) == pytest.approx(1 / 2)  # a space is a character


def test_error_rates_take_the_closest_reference():
    # G2P style: either pronunciation is right.
    refs = [["t ah m ey t ow", "t ah m aa t ow"], ["k ae t"]]
    assert wer(["t ah m aa t ow", "k ae t"], refs) == 0.0
    # One substitution against its closest reference (6 phones) plus none: 1 / (6 + 3).
    assert wer(["t ah m aa t uw", "k ae t"], refs) == pytest.approx(1 / 9)
    # Equal edits: the longer reference counts, 1 error over 3 words rather than over 2.
    assert wer(["a x c"], [["a b", "a b c"]]) == pytest.approx(1 / 3)
    assert cer(["colour"], [["color", "colour"]]) == 0.0


@pytest.mark.parametrize("metric", [bleu, chrf, wer, cer])
def test_metrics_reject_malformed_input(metric):
    with pytest.raises(SeqkitError, match="2 candidates but 1"):
        metric(["a", "b"], ["a"])
    with pytest.raises(SeqkitError, match="empty"):
        metric([], [])
    with pytest.raises(SeqkitError, match="wrap a single sentence"):
        metric("a b", "a b")
    with pytest.raises(SeqkitError, match="candidate 1 has no reference"):
        metric(["a", "b"], [["a"], []])
