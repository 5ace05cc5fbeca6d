"""CTC decoding on hand-made posteriors whose right answers are known, and prefix beam search
against brute-force summation over every alignment."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from seqkit.ctc import LexiconSearch, greedy_decode, lexicon_beam_search, prefix_beam_search
from seqkit.errors import SeqkitError

torch.set_num_threads(1)
BLANK, A, B_, C_ = 0, 1, 2, 3  # class ids of the hand-made posteriors


def posteriors(paths: list[list[int]], classes: int = 11, peak: float = 0.9) -> torch.Tensor:
    """``log_probs (len(paths), S, classes)``: each step puts ``peak`` on its class."""
    rest = (1 - peak) / (classes - 1)
    probs = torch.full((len(paths), len(paths[0]), classes), rest)
    for b, path in enumerate(paths):
        for s, c in enumerate(path):
            probs[b, s, c] = peak
    return probs.log()


def brute_force(log_probs: torch.Tensor, length: int) -> dict[tuple, float]:
    """log P(labels) for every label sequence: the sum over all C^length alignments."""
    probs = log_probs[:length].double().exp().tolist()
    totals: dict[tuple, float] = {}
    for path in itertools.product(range(len(probs[0])), repeat=length):
        labels = tuple(c for i, c in enumerate(path)
                       if c != BLANK and (i == 0 or c != path[i - 1]))
        totals[labels] = totals.get(labels, 0.0) + math.prod(p[c] for p, c in zip(probs, path))
    return {labels: math.log(p) for labels, p in totals.items()}


def test_greedy_collapses_repeats_but_not_across_blanks():
    paths = [[A, A, A, B_, B_, BLANK, B_],  # a b b: the blank separates the two b's
             [A, BLANK, A, BLANK, BLANK, A, A],  # a a a
             [BLANK, C_, C_, C_, BLANK, BLANK, BLANK]]  # c
    assert greedy_decode(posteriors(paths), torch.tensor([7, 7, 7])) == [[A, B_, B_], [A, A, A],
                                                                          [C_]]


def test_greedy_ignores_steps_past_each_length():
    paths = [[A, B_, C_, A, B_, C_, A],
             [A, A, BLANK, C_, C_, C_, C_],
             [C_, B_, A, C_, B_, A, C_]]
    # Row 2's padding continues its last class (c), which must not merge with a padded step;
    # a row of length 0 decodes to nothing.
    lengths = torch.tensor([3, 4, 0])
    assert greedy_decode(posteriors(paths), lengths) == [[A, B_, C_], [A, C_], []]
    assert greedy_decode(posteriors(paths)) == [[A, B_, C_, A, B_, C_, A], [A, C_], [C_, B_, A,
                                                                                     C_, B_, A, C_]]


def test_prefix_search_tells_a_blank_a_from_a_a():
    paths = [[A, A, BLANK, A, A], [A, A, A, A, A], [BLANK, A, BLANK, BLANK, BLANK]]
    results = prefix_beam_search(posteriors(paths, classes=5), torch.tensor([5, 5, 5]), beam=4)
    assert [hyps[0][0] for hyps in results] == [[A, A], [A], [A]]


def test_beam_beats_greedy_where_alignments_add_up():
    # Two steps, blank 0.6 and a 0.4 at each. The best single path is blank-blank ("", 0.36),
    # but "a" has three alignments: a a, a _, _ a = 0.16 + 0.24 + 0.24 = 0.64.
    log_probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
    assert greedy_decode(log_probs) == [[]]
    (best, second), = prefix_beam_search(log_probs, beam=4)
    assert best[0] == [A] and best[1] == pytest.approx(math.log(0.64))
    assert second[0] == [] and second[1] == pytest.approx(math.log(0.36))


def test_prefix_search_equals_brute_force_summation():
    torch.manual_seed(0)
    log_probs = torch.randn(3, 5, 3).mul(2).log_softmax(-1)  # B=3, S=5, blank + 2 labels
    lengths = torch.tensor([5, 4, 2])
    # 2 labels and at most 5 of them: 63 prefixes, so a beam of 64 prunes nothing: exact.
    results = prefix_beam_search(log_probs, lengths, beam=64)
    for b, hyps in enumerate(results):
        exact = brute_force(log_probs[b], int(lengths[b]))
        found = {tuple(tokens): score for tokens, score in hyps}
        assert found.keys() == exact.keys()
        for labels, score in exact.items():
            assert found[labels] == pytest.approx(score, abs=1e-9)
        assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
    # A narrow beam still ranks the right best sequence first, with its exact probability.
    narrow = prefix_beam_search(log_probs, lengths, beam=3)
    for b, hyps in enumerate(narrow):
        exact = brute_force(log_probs[b], int(lengths[b]))
        assert len(hyps) <= 3
        assert tuple(hyps[0][0]) == max(exact, key=exact.get)


def ctc_log_prob(log_probs: torch.Tensor, length: int, tokens: list[int]) -> float:
    """log P(tokens) summed over all alignments, by PyTorch's CTC forward algorithm."""
    if not tokens:
        return log_probs[:length, BLANK].sum().item()
    nll = F.ctc_loss(log_probs[None, :length].transpose(0, 1), torch.tensor([tokens]),
                     torch.tensor([length]), torch.tensor([len(tokens)]), reduction="sum")
    return -nll.item()


def test_prefix_scores_agree_with_torch_ctc_loss():
    torch.manual_seed(1)
    log_probs = torch.randn(3, 7, 3).mul(2).log_softmax(-1).double()
    lengths = torch.tensor([7, 5, 6])
    # Exact with a beam over every prefix (at most 2^8 - 1 of 2 labels in 7 steps) ...
    for b, hyps in enumerate(prefix_beam_search(log_probs, lengths, beam=256)):
        for tokens, score in hyps[:5]:
            assert score == pytest.approx(ctc_log_prob(log_probs[b], lengths[b], tokens), abs=1e-9)
    # ... and a lower bound with a narrow one (pruned prefixes take their mass with them).
    for b, hyps in enumerate(prefix_beam_search(log_probs, lengths, beam=2, top_k=1)):
        for tokens, score in hyps:
            assert score <= ctc_log_prob(log_probs[b], lengths[b], tokens) + 1e-9


def test_decoding_rejects_bad_input():
    log_probs = torch.randn(3, 7, 11).log_softmax(-1)
    with pytest.raises(SeqkitError, match="B, S, C"):
        greedy_decode(log_probs[0], torch.tensor([7]))
    with pytest.raises(SeqkitError, match="lengths must lie"):
        prefix_beam_search(log_probs, torch.tensor([7, 8, 1]))
    with pytest.raises(SeqkitError, match="one per row"):
        greedy_decode(log_probs, torch.tensor([7, 7]))
    with pytest.raises(SeqkitError, match="blank=11"):
        greedy_decode(log_probs, torch.tensor([7, 7, 7]), blank=11)
    with pytest.raises(SeqkitError, match="beam"):
        prefix_beam_search(log_probs, None, beam=0)


# Lexicon search: classes 0 blank, 1 word boundary, 2 a, 3 b, 4 c.
SPACE = 1
AMBIGUOUS = [[.05, .05, .05, .05, .80],  # c
             [.10, .05, .38, .42, .05],  # a or b: b slightly ahead
             [.10, .70, .10, .05, .05]]  # boundary
BIGRAM_LM = """\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-0.5\t</s>\t0
-0.05\tca\t0
-3.0\tcb\t0

\\2-grams:
-0.05\t<s> ca
-3.0\t<s> cb

\\end\\
"""


@pytest.fixture
def flashlight():
    pytest.importorskip("flashlight.lib.text.decoder",
                        reason="flashlight-text (the ctc extra) is not installed")


def test_lexicon_search_keeps_to_words_and_uses_the_lm(flashlight, tmp_path):
    log_probs = torch.tensor(AMBIGUOUS).log()[None].repeat(3, 1, 1)
    lengths = torch.tensor([3, 3, 2])
    assert greedy_decode(log_probs, lengths)[0] == [4, 3, SPACE]  # "cb ", not a word below
    only_ca, = lexicon_beam_search(log_probs[:1], lengths[:1], {"ca": [[4, 2]], "ab": [[2, 3]]},
                                   boundary=SPACE)
    assert only_ca[0].words == ["ca"] and only_ca[0].tokens == [4, 2]
    # Acoustic score of the best alignment: c, a, boundary.
    assert only_ca[0].score == pytest.approx(math.log(.8 * .38 * .7), abs=1e-5)
    both = {"ca": [[4, 2]], "cb": [[4, 3]]}
    plain = lexicon_beam_search(log_probs, lengths, both, boundary=SPACE, nbest=2)
    assert [row[0].words for row in plain] == [["cb"]] * 3  # the acoustics pick "cb"
    lm = tmp_path / "lm.arpa"
    lm.write_text(BIGRAM_LM)
    fused = lexicon_beam_search(log_probs, lengths, both, boundary=SPACE, lm=lm, nbest=2,
                                lm_weight=1.0)
    assert [row[0].words for row in fused] == [["ca"]] * 3  # the LM prefers "ca"
    assert [row[1].words for row in fused] == [["cb"]] * 3


def test_lexicon_search_reads_several_words_batch_after_batch(flashlight):
    search = LexiconSearch({"ca": [[4, 2]], "cb": [[4, 3]]}, boundary=SPACE, classes=5)
    frames = [[.9 if c == k else .025 for c in range(5)] for k in [4, 2, 1, 4, 3, 3, 1]]
    log_probs = torch.tensor(frames).log()[None]
    words, = search(log_probs)
    assert words[0].words == ["ca", "cb"] and words[0].tokens == [4, 2, SPACE, 4, 3]
    # The same search on the next batch; the second row stops after the first word.
    rows = search(log_probs.repeat(3, 1, 1), torch.tensor([7, 3, 5]))
    assert [row[0].words for row in rows] == [["ca", "cb"], ["ca"], ["ca", "cb"]]
    with pytest.raises(SeqkitError, match="built for 5"):
        search(torch.randn(3, 7, 11).log_softmax(-1))


def test_lexicon_search_rejects_bad_input(flashlight):
    log_probs = torch.randn(3, 7, 5).log_softmax(-1)
    with pytest.raises(SeqkitError, match="boundary"):
        lexicon_beam_search(log_probs, None, {"ca": [[4, 2]]}, boundary=0)
    with pytest.raises(SeqkitError, match="lexicon"):
        lexicon_beam_search(log_probs, None, {"ca": [[4, 9]]}, boundary=1)
    with pytest.raises(SeqkitError, match="does not exist"):
        lexicon_beam_search(log_probs, None, {"ca": [[4, 2]]}, boundary=1, lm="/nonexistent.arpa")
