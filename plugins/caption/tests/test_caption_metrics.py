"""Caption metrics: CIDEr-D on worked examples computed by hand (clipping of repeated n-grams
included) and against coco-caption, BLEU through the core's sacrebleu, exact match."""
from __future__ import annotations

import math

import pytest

from seqkit_caption.metrics import bleu, caption_metrics, cider_d, cider_d_scores, exact_match

# Three images. "a" appears in the references of two of them, every other n-gram in one.
CANDIDATES = ["a b", "d a", "e"]
REFERENCES = [["a b", "a c"], ["a d"], ["e f"]]


def test_cider_d_worked_example():
    # idf = log(3 images) - log(document frequency): u for "a" (df 2), v for the rest (df 1).
    u, v = math.log(3) - math.log(2), math.log(3)
    # Image 1, "a b": unigrams (a: u, b: v), bigram ("a b": v).
    #   against "a b": cosine 1 for unigrams and bigrams;
    #   against "a c": unigrams share only "a": u*u / (|(u, v)| * |(u, v)|); bigrams 0.
    #   CIDEr-D = 10 * mean over n = 1..4 of the mean over the 2 references.
    image1 = 10 * ((1 + u * u / (u * u + v * v)) + 1 + 0 + 0) / 4 / 2
    # Image 2, "d a" against "a d": the same unigrams (cosine 1), no common bigram.
    image2 = 10 * (1 + 0 + 0 + 0) / 4
    # Image 3, "e" against "e f": unigram cosine v*v / (v * v*sqrt(2)), one word too short:
    #   length penalty exp(-(1 - 2)^2 / (2 * 6^2)).
    image3 = 10 * (1 / math.sqrt(2) * math.exp(-1 / 72)) / 4
    scores = cider_d_scores(CANDIDATES, REFERENCES)
    assert scores == pytest.approx([image1, image2, image3], rel=1e-9)
    assert scores == pytest.approx([2.649854, 2.5, 1.743383], abs=1e-5)  # the numbers by hand
    assert cider_d(CANDIDATES, REFERENCES) == pytest.approx(sum(scores) / 3, rel=1e-12)


def test_cider_d_edges():
    assert cider_d([], []) == 0.0
    assert cider_d_scores(["", "x y"], [["x y"], ["x z"]])[0] == 0.0  # an empty caption
    # One image: every n-gram has idf log(1) - log(1) = 0, so nothing scores.
    assert cider_d(["a b"], [["a b"]]) == 0.0


def test_cider_d_matches_coco_caption():
    pycocoevalcap = pytest.importorskip("pycocoevalcap.cider.cider", reason="pycocoevalcap "
                                        "(the coco-caption reference) is not installed")
    candidates = ["a man rides a red bike", "two dogs play in snow", "a cat", "a bowl of soup"]
    references = [["a man riding a bike", "a person on a red bicycle"],
                  ["two dogs playing in the snow", "dogs run in snow", "a dog in snow"],
                  ["a cat sleeps on a sofa"], ["soup in a white bowl", "a bowl of hot soup"]]
    score, per_image = pycocoevalcap.Cider().compute_score(
        {i: refs for i, refs in enumerate(references)},
        {i: [c] for i, c in enumerate(candidates)})
    assert cider_d(candidates, references) == pytest.approx(score, rel=1e-9)
    assert cider_d_scores(candidates, references) == pytest.approx(list(per_image), rel=1e-9)


def test_cider_d_clips_repeated_ngrams():
    # Two images, every n-gram in one image's references only: idf = log 2 = v for all.
    # Image 1: "x x x" against "x y". Unigram vectors (x: 3v) and (x: v, y: v); the candidate's
    # count is clipped at the reference's before the dot product: min(3v, v) * v = v^2, so the
    # cosine is v^2 / (3v * sqrt(2) v) = 1 / (3 sqrt 2), where unclipped it would be 1 / sqrt 2.
    # No common bigram; one word too long: penalty exp(-1 / 72).
    scores = cider_d_scores(["x x x", "z"], [["x y"], ["z w"]])
    clipped = 10 * (1 / (3 * math.sqrt(2))) * math.exp(-1 / 72) / 4
    assert scores[0] == pytest.approx(clipped, rel=1e-12)
    assert scores[0] == pytest.approx(0.5811281, abs=1e-6)
    # Saying the one right word more often never helps: "x" alone scores 3 times as much.
    alone = cider_d_scores(["x", "z"], [["x y"], ["z w"]])[0]
    assert alone == pytest.approx(10 * (1 / math.sqrt(2)) * math.exp(-1 / 72) / 4, rel=1e-12)
    assert scores[0] == pytest.approx(alone / 3, rel=1e-12)


def test_cider_d_matches_coco_caption_on_repeated_words():
    pycocoevalcap = pytest.importorskip("pycocoevalcap.cider.cider", reason="pycocoevalcap "
                                        "(the coco-caption reference) is not installed")
    candidates = ["a dog a dog a dog", "snow snow snow snow snow", "the the the cat on the mat",
                  "a man and a man on a bike", "a red red red bus"]
    references = [["a dog runs on the grass", "a brown dog on a lawn"],
                  ["two dogs playing in the snow", "dogs run in snow", "snow on the snow"],
                  ["the cat sat on the mat", "a cat on a mat"],
                  ["a man and a woman on a bike", "a man rides a bike", "a man on a red bike"],
                  ["a red bus on the road", "a red double decker bus"]]
    score, per_image = pycocoevalcap.Cider().compute_score(
        {i: refs for i, refs in enumerate(references)},
        {i: [c] for i, c in enumerate(candidates)})
    assert cider_d_scores(candidates, references) == pytest.approx(list(per_image), rel=1e-9)
    assert cider_d(candidates, references) == pytest.approx(score, rel=1e-9)


def test_bleu_uses_every_reference():
    refs = [["the cat sat on the mat", "a cat was on the mat"], ["there is a dog"]]
    assert bleu(["the cat sat on the mat", "there is a dog"], refs) == pytest.approx(100.0)
    assert bleu(["a cat was on the mat", "there is a dog"], refs) == pytest.approx(100.0)
    assert bleu(["a cat was on the mat", "a dog"], refs, order=1) < 100.0  # brevity
    assert bleu(["zebra zebra", "quux"], refs) == 0.0
    assert bleu(["the cat sat on the mat"], [["the cat sat on a mat"]], order=1) == \
        pytest.approx(100 * 5 / 6)


def test_bleu_is_coco_captions_unsmoothed_and_untokenised():
    # No 4-gram in common: BLEU-4 is 0 without smoothing (coco-caption), though 3-grams match.
    cand, refs = ["the cat sat x on the mat"], [["the cat sat on the mat"]]
    assert bleu(cand, refs, order=4) == 0.0 and bleu(cand, refs, order=3) > 0.0
    # Words are split on spaces only: "dog," is not "dog" (2 of 4 unigrams match).
    assert bleu(["a dog , running"], [["a dog, running"]], order=1) == pytest.approx(50.0)
    metrics = caption_metrics(cand, refs)
    assert metrics["bleu4"] == 0.0 and metrics["bleu3"] == bleu(cand, refs, order=3)


def test_exact_match_and_keys():
    assert exact_match(["a b", "c"], [["x", "a b"], ["d"]]) == 0.5
    metrics = caption_metrics(CANDIDATES, REFERENCES, prefix="baseline_")
    assert sorted(metrics) == ["baseline_bleu1", "baseline_bleu2", "baseline_bleu3",
                               "baseline_bleu4", "baseline_cider"]
