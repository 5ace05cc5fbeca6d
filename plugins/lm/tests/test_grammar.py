"""Tests for the HMM grammar behind the language-model plugin's built-in corpus."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from seqkit_lm.grammar import EOS, Grammar, builtin_splits, render, unigram_ppl


@pytest.fixture(scope="module")
def grammar():
    return Grammar.builtin()


@pytest.fixture(scope="module")
def splits():
    return builtin_splits()


def toy_grammar():
    """Two hidden states, three words (odd sizes, so swapped axes fail loudly)."""
    return Grammar(
        states=("A", "B"),
        vocab=("x", "y", "z"),
        start=np.array([0.6, 0.4]),
        transition=np.array([[0.2, 0.5, 0.3], [0.4, 0.1, 0.5]]),  # columns: A, B, END
        emission=np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]),  # shared words: hidden states
    )


def brute_force_prob(grammar, words):
    """P(words, <eos>) by summing over every hidden path explicitly."""
    ids = [grammar.vocab.index(word) for word in words]
    end = len(grammar.states)
    total = 0.0
    for path in itertools.product(range(len(grammar.states)), repeat=len(ids)):
        prob = grammar.start[path[0]] * grammar.emission[path[0], ids[0]]
        for prev, state, word_id in zip(path, path[1:], ids[1:]):
            prob *= grammar.transition[prev, state] * grammar.emission[state, word_id]
        total += prob * grammar.transition[path[-1], end]
    return total


def length_prob(grammar, n):
    """P(a sentence has exactly n words) = start @ M^(n-1) @ to_end, from the tables alone."""
    moves, to_end = grammar.transition[:, :-1], grammar.transition[:, -1]
    return float(grammar.start @ np.linalg.matrix_power(moves, n - 1) @ to_end)


def test_builtin_tables_are_distributions(grammar):
    assert np.isclose(grammar.start.sum(), 1.0)
    assert np.allclose(grammar.transition.sum(axis=1), 1.0)
    assert np.allclose(grammar.emission.sum(axis=1), 1.0)
    assert (grammar.transition >= 0).all() and (grammar.emission >= 0).all()
    assert 8 <= len(grammar.states) <= 13
    assert 60 <= len(grammar.vocab) <= 120
    # Some words are emitted by more than one class, so the states really are hidden.
    assert ((grammar.emission > 0).sum(axis=0) > 1).any()


def test_logprob_matches_path_enumeration():
    toy = toy_grammar()
    for n in range(1, 5):
        for words in itertools.product(toy.vocab, repeat=n):
            expected = brute_force_prob(toy, list(words))
            assert math.isclose(math.exp(toy.sentence_logprob(list(words))), expected, rel_tol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_toy_sentence_probs_sum_to_length_prob(n):
    toy = toy_grammar()
    sentences = [list(words) for words in itertools.product(toy.vocab, repeat=n)]
    total = sum(math.exp(toy.sentence_logprob(words)) for words in sentences)
    assert math.isclose(total, length_prob(toy, n), rel_tol=1e-9)


def test_length_probs_sum_to_one():
    toy = toy_grammar()
    assert math.isclose(sum(length_prob(toy, n) for n in range(1, 200)), 1.0, rel_tol=1e-9)


def test_builtin_two_word_sentences_sum_to_length_prob(grammar):
    total = sum(
        math.exp(grammar.sentence_logprob([first, second]))
        for first in grammar.vocab
        for second in grammar.vocab
    )
    assert total > 0.0
    assert math.isclose(total, length_prob(grammar, 2), rel_tol=1e-9)
    assert length_prob(grammar, 1) == 0.0  # no class both starts and ends a sentence


def test_sample_frequencies_match_logprob():
    toy = toy_grammar()
    n = 4000
    counts = Counter(tuple(words) for words in toy.sample_sentences(n, seed=5))
    checked = 0
    for words, count in counts.items():
        prob = math.exp(toy.sentence_logprob(list(words)))
        if prob > 0.02:
            assert abs(count / n - prob) < 4.5 * math.sqrt(prob * (1 - prob) / n), words
            checked += 1
    assert checked >= 4


def test_sample_length_and_word_frequencies_match_tables(grammar, splits):
    train = splits["train"]
    lengths = [len(words) for words in train]
    assert min(lengths) >= 1
    standard_error = np.std(lengths) / math.sqrt(len(train))
    assert abs(np.mean(lengths) - grammar.expected_length()) < 4 * standard_error
    assert 8 <= grammar.expected_length() <= 14
    # Expected visits per state times emissions gives each word's expected share of the text.
    moves = grammar.transition[:, :-1]
    visits = np.linalg.solve((np.eye(len(grammar.states)) - moves).T, grammar.start)
    expected = visits @ grammar.emission
    expected /= expected.sum()
    counts = Counter(word for words in train for word in words)
    observed = np.array([counts[word] for word in grammar.vocab]) / sum(counts.values())
    assert 0.5 * np.abs(observed - expected).sum() < 0.05  # total variation distance (0.03 here)


def test_sampling_is_deterministic_by_seed(grammar):
    assert grammar.sample_sentences(30, seed=7) == grammar.sample_sentences(30, seed=7)
    assert grammar.sample_sentences(30, seed=7) != grammar.sample_sentences(30, seed=8)
    sizes = dict(n_train=11, n_valid=7, n_test=5)
    first = builtin_splits(seed=3, **sizes)
    assert builtin_splits(seed=3, **sizes) == first
    assert [len(first[name]) for name in ("train", "valid", "test")] == [11, 7, 5]
    assert builtin_splits(seed=4, **sizes) != first


def test_splits_use_different_streams(splits):
    assert splits["valid"] != splits["test"]
    assert splits["valid"] != splits["train"][: len(splits["valid"])]
    assert all(words and EOS not in words for split in splits.values() for words in split)


def test_floor_is_well_below_unigram_baseline(grammar, splits):
    floor = grammar.word_floor_ppl(splits["valid"])
    char_floor = grammar.char_floor_ppl(splits["valid"])
    unigram = unigram_ppl(splits["train"], splits["valid"])
    print(f"word floor ppl {floor:.3f}, char floor ppl {char_floor:.4f}, unigram ppl {unigram:.3f}")
    assert 1.0 < floor < 0.5 * unigram
    assert 1.0 < char_floor < floor


def test_char_floor_divides_the_same_logprob_by_characters(grammar, splits):
    sentences = splits["test"][:13]
    logprob, tokens = grammar.corpus_logprob(sentences)
    assert tokens == sum(len(words) for words in sentences) + len(sentences)
    assert math.isclose(grammar.word_floor_ppl(sentences), math.exp(-logprob / tokens))
    n_chars = len(render(sentences))
    assert math.isclose(grammar.char_floor_ppl(sentences), math.exp(-logprob / n_chars))


def test_render_round_trips(splits):
    sentences = splits["valid"]
    text = render(sentences)
    assert text.endswith("\n") and text.count("\n") == len(sentences)
    assert [line.split(" ") for line in text.splitlines()] == sentences


def test_unigram_ppl_of_uniform_text():
    # Counts x:2, y:2, <eos>:2 plus one each -> every token has probability 1/3.
    assert math.isclose(unigram_ppl([["x", "y"], ["y", "x"]], [["x"], ["y"]]), 3.0)


def test_bad_sentences(grammar):
    with pytest.raises(ValueError, match="not in the grammar's vocabulary"):
        grammar.sentence_logprob(["the", "zebra"])
    with pytest.raises(ValueError, match="empty sentence"):
        grammar.sentence_logprob([])
    assert grammar.sentence_logprob(["the", "the"]) == -math.inf


def test_malformed_tables_are_rejected():
    toy = toy_grammar()
    with pytest.raises(ValueError, match="sum to 1"):
        Grammar(toy.states, toy.vocab, np.array([0.5, 0.4]), toy.transition, toy.emission)
    with pytest.raises(ValueError, match="shape"):
        Grammar(toy.states, toy.vocab, toy.start, toy.transition[:, :2], toy.emission)
    never_ends = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    with pytest.raises(ValueError, match="reach END"):
        Grammar(toy.states, toy.vocab, toy.start, never_ends, toy.emission)
