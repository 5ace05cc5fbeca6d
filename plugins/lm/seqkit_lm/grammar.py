"""The language-model plugin's built-in corpus: sentences sampled from a hidden Markov model.

The hidden states are word classes (determiner, adjective, noun, verb, ...) and each class emits
a handful of real English words with Zipf-like probabilities, so the samples read like tiny
sentences: "the old dog saw a red ball in the garden". Some words belong to more than one class
("her", "left", "played", "dog"), so the class sequence stays hidden. A sentence ends when the
chain enters END, which emits the token ``<eos>``.

Why the grammar's own log-likelihood is a floor
-----------------------------------------------
For text drawn from a distribution P, every model Q has expected cross-entropy
E_P[-log Q(x)] = H(P) + KL(P || Q) >= H(P), with equality only when Q = P. So no trained model
can have a lower expected per-token loss than the process that generated the text, and the
true model's perplexity on a text, ``exp(-logprob / tokens)``, is the floor to report beside the
trained model's perplexity. (On one finite text a model can land a little below it by chance;
the bound holds in expectation.) Word-level tokens are the words plus one ``<eos>`` per sentence.

For character-level models the text is rendered as the words of a sentence joined by single
spaces, one sentence per line, each line terminated by "\\n" (see :func:`render`). No word
contains a space or a newline, so the mapping from sentences to characters is deterministic and
uniquely decodable: a text has exactly the probability of the sentences it spells. The same total
log-probability divided by the number of characters therefore gives the character-level floor.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

EOS = "<eos>"  # the token emitted by END: one per sentence, "\n" in rendered text

# Word classes, each with its words listed from most to least frequent (Zipf-like ranks).
# Classes prefixed OBJ_ play the object / prepositional-object role; they share most words with
# their subject-side twins, which is what keeps the states hidden.
_CLASS_WORDS = {
    "DET": "the a my this her our every some that",
    "ADJ": "old small big young happy red quiet tired green bright",
    "NOUN": "dog cat girl boy man woman teacher farmer bird child king doctor baby horse car",
    "PRON": "she he they i we you it",
    "VERB_T": "saw found liked took wanted made watched opened chased heard carried painted "
    "played left moved",
    "VERB_I": "slept laughed smiled ran waited left arrived played sang fell moved watched",
    "OBJ_DET": "the a her this my some that our every",
    "OBJ_ADJ": "red big small old green bright quiet happy young tired",
    "OBJ_NOUN": "ball book box house garden tree door letter apple river window song dog cat "
    "car bird park table",
    "OBJ_PRON": "it them her him me us you",
    "PREP": "in on near with under behind to from at",
    "ADV": "again today quietly slowly there later soon together yesterday then",
    "CONJ": "and but so because while when",
}

_START = {"DET": 0.55, "PRON": 0.45}

# P(next class | class); "END" finishes the sentence. Sparse on purpose: this is the structure a
# language model has to learn (a determiner is followed by an adjective or a noun, ...).
_TRANSITIONS = {
    "DET": {"ADJ": 0.3, "NOUN": 0.7},
    "ADJ": {"ADJ": 0.15, "NOUN": 0.85},
    "NOUN": {"VERB_T": 0.6, "VERB_I": 0.4},
    "PRON": {"VERB_T": 0.65, "VERB_I": 0.35},
    "VERB_T": {"OBJ_DET": 0.65, "OBJ_PRON": 0.35},
    "VERB_I": {"END": 0.25, "PREP": 0.35, "ADV": 0.2, "CONJ": 0.2},
    "OBJ_DET": {"OBJ_ADJ": 0.3, "OBJ_NOUN": 0.7},
    "OBJ_ADJ": {"OBJ_ADJ": 0.12, "OBJ_NOUN": 0.88},
    "OBJ_NOUN": {"END": 0.3, "PREP": 0.35, "ADV": 0.15, "CONJ": 0.2},
    "OBJ_PRON": {"END": 0.3, "PREP": 0.3, "ADV": 0.2, "CONJ": 0.2},
    "PREP": {"OBJ_DET": 0.85, "OBJ_PRON": 0.15},
    "ADV": {"END": 0.6, "CONJ": 0.25, "PREP": 0.15},
    "CONJ": {"DET": 0.5, "PRON": 0.5},
}

ZIPF_EXPONENT = 1.0  # emission weight of the word of rank r (from 1) is r ** -ZIPF_EXPONENT


@dataclass(eq=False)
class Grammar:
    """A hidden Markov model whose emitting states are word classes, plus an implicit END state.

    S is the number of emitting states, V the number of words (``<eos>`` excluded).
    """

    states: tuple[str, ...]  # names of the S emitting states (word classes); END is implicit
    vocab: tuple[str, ...]  # the V words, without <eos>; none contains whitespace
    start: np.ndarray  # (S,) P(first state); END cannot start, so no sentence is empty
    transition: np.ndarray  # (S, S + 1) P(next state | state); the last column is END
    emission: np.ndarray  # (S, V) P(word | state)

    def __post_init__(self) -> None:
        self.states, self.vocab = tuple(self.states), tuple(self.vocab)
        self.start = np.asarray(self.start, dtype=np.float64)
        self.transition = np.asarray(self.transition, dtype=np.float64)
        self.emission = np.asarray(self.emission, dtype=np.float64)
        _check_grammar(self)

    @classmethod
    def builtin(cls) -> Grammar:
        """Build the fixed English-like grammar from the tables in this module."""
        states = tuple(_CLASS_WORDS)
        vocab = tuple(dict.fromkeys(w for words in _CLASS_WORDS.values() for w in words.split()))
        word_index = {word: i for i, word in enumerate(vocab)}
        emission = np.zeros((len(states), len(vocab)))
        for row, words in enumerate(_CLASS_WORDS.values()):
            for rank, word in enumerate(words.split(), start=1):
                emission[row, word_index[word]] = rank**-ZIPF_EXPONENT
        emission /= emission.sum(axis=1, keepdims=True)
        targets = {name: i for i, name in enumerate(states + ("END",))}
        transition = np.zeros((len(states), len(states) + 1))
        for row, name in enumerate(states):
            for target, prob in _TRANSITIONS[name].items():
                transition[row, targets[target]] = prob
        start = np.array([_START.get(name, 0.0) for name in states])
        return cls(states, vocab, start, transition, emission)

    @functools.cached_property
    def word_index(self) -> dict[str, int]:
        """Map each word of the vocabulary to its column in ``emission``."""
        return {word: i for i, word in enumerate(self.vocab)}

    def expected_length(self) -> float:
        """Mean number of words per sentence (``<eos>`` excluded), computed exactly."""
        moves = self.transition[:, :-1]  # (S, S) moves between emitting states
        # Expected visits to each state: start @ (I + M + M^2 + ...) = start @ (I - M)^-1.
        visits = np.linalg.solve((np.eye(len(self.states)) - moves).T, self.start)
        return float(visits.sum())

    def sample_sentences(self, n: int, seed: int) -> list[list[str]]:
        """Draw ``n`` sentences as lists of words (``<eos>`` left out); same seed, same list."""
        rng = np.random.default_rng(seed)
        start_cdf = _cumulative(self.start)
        transition_cdfs = [_cumulative(row) for row in self.transition]
        emission_cdfs = [_cumulative(row) for row in self.emission]
        end = len(self.states)
        sentences = []
        for _ in range(n):
            words, state = [], _draw(start_cdf, rng)
            while state != end:  # END is reached with probability 1 (checked in _check_grammar)
                words.append(self.vocab[_draw(emission_cdfs[state], rng)])
                state = _draw(transition_cdfs[state], rng)
            sentences.append(words)
        return sentences

    def sentence_logprob(self, words: list[str]) -> float:
        """Natural-log P(``words`` then ``<eos>``), exact, by the scaled forward algorithm.

        Returns ``-inf`` for a sentence the grammar cannot produce from known words; raises
        ``ValueError`` for an empty sentence or a word outside the vocabulary.
        """
        if not words:
            raise ValueError("an empty sentence has probability 0: every sentence has a word")
        word_ids = [self._word_id(word) for word in words]
        moves, to_end = self.transition[:, :-1], self.transition[:, -1]
        # alpha[s] = P(words so far, current state s), rescaled to sum to 1 after every step;
        # the log of each rescaling factor is added to the running log-probability.
        alpha = self.start * self.emission[:, word_ids[0]]
        logprob = 0.0
        for step, word_id in enumerate(word_ids):
            if step > 0:
                alpha = (alpha @ moves) * self.emission[:, word_id]
            total = float(alpha.sum())
            if total == 0.0:
                return -math.inf
            logprob += math.log(total)
            alpha = alpha / total
        finish = float(alpha @ to_end)
        return logprob + math.log(finish) if finish > 0.0 else -math.inf

    def corpus_logprob(self, sentences: list[list[str]]) -> tuple[float, int]:
        """Total log-prob of independent sentences, and their token count (words + ``<eos>``)."""
        logprob = sum(self.sentence_logprob(words) for words in sentences)
        tokens = sum(len(words) + 1 for words in sentences)
        return logprob, tokens

    def word_floor_ppl(self, sentences: list[list[str]]) -> float:
        """The true model's per-token perplexity on ``sentences``: the word-level floor."""
        logprob, tokens = self.corpus_logprob(sentences)
        return math.exp(-logprob / tokens)

    def char_floor_ppl(self, sentences: list[list[str]]) -> float:
        """The true model's per-character perplexity on ``render(sentences)``: the char floor."""
        logprob, _ = self.corpus_logprob(sentences)
        return math.exp(-logprob / len(render(sentences)))

    def _word_id(self, word: str) -> int:
        try:
            return self.word_index[word]
        except KeyError:
            raise ValueError(
                f"word {word!r} is not in the grammar's vocabulary of {len(self.vocab)} words; "
                "the perplexity floor exists only for text sampled from this grammar"
            ) from None


def render(sentences: list[list[str]]) -> str:
    """Render sentences as text: words joined by single spaces, every line ending in "\\n"."""
    return "".join(" ".join(words) + "\n" for words in sentences)


def unigram_ppl(train_sentences: list[list[str]], eval_sentences: list[list[str]]) -> float:
    """Perplexity on ``eval_sentences`` of an add-one unigram model fit on ``train_sentences``.

    ``<eos>`` counts as a token. The smoothing vocabulary is every token seen in either set plus
    ``<eos>``. A trained language model must beat this baseline by a wide margin.
    """
    counts = Counter(token for words in train_sentences for token in (*words, EOS))
    vocab = set(counts) | {word for words in eval_sentences for word in words} | {EOS}
    denominator = sum(counts.values()) + len(vocab)
    eval_tokens = [token for words in eval_sentences for token in (*words, EOS)]
    nll = -sum(math.log((counts[token] + 1) / denominator) for token in eval_tokens)
    return math.exp(nll / len(eval_tokens))


_SPLIT_NAMES = ("train", "valid", "test")


def builtin_splits(
    seed: int = 0, n_train: int = 2000, n_valid: int = 200, n_test: int = 200
) -> dict[str, list[list[str]]]:
    """Sample the built-in train/valid/test corpora from ``Grammar.builtin()``.

    Each split has its own seed (``3 * seed + 0, 1, 2``), so splits never share a random stream.
    The default sizes train an LSTM in a few minutes on a 2-core CPU.
    """
    grammar = Grammar.builtin()
    sizes = (n_train, n_valid, n_test)
    return {
        name: grammar.sample_sentences(size, seed=3 * seed + offset)
        for offset, (name, size) in enumerate(zip(_SPLIT_NAMES, sizes))
    }


def _cumulative(probs: np.ndarray) -> list[float]:
    """Cumulative sums as a plain list, for fast ``bisect`` draws."""
    return np.cumsum(probs).tolist()


def _draw(cdf: list[float], rng: np.random.Generator) -> int:
    """Index drawn from the distribution whose cumulative sums are ``cdf``."""
    # Scaling by cdf[-1] keeps the index in range when rounding leaves the sum a hair under 1;
    # bisect_right never lands on a zero-probability entry.
    return bisect.bisect_right(cdf, rng.random() * cdf[-1])


def _check_grammar(grammar: Grammar) -> None:
    """Raise ValueError unless the grammar's tables are well-formed distributions that terminate."""
    n_states, n_words = len(grammar.states), len(grammar.vocab)
    shapes = {
        "start": (grammar.start.shape, (n_states,)),
        "transition": (grammar.transition.shape, (n_states, n_states + 1)),
        "emission": (grammar.emission.shape, (n_states, n_words)),
    }
    for name, (shape, expected) in shapes.items():
        if shape != expected:
            raise ValueError(f"{name} has shape {shape}, expected {expected} (S states, V words)")
    for name, table in (("start", grammar.start), ("transition", grammar.transition),
                        ("emission", grammar.emission)):
        if (table < 0).any() or not np.allclose(table.sum(axis=-1), 1.0):
            raise ValueError(f"every row of {name} must be non-negative and sum to 1")
    if len(set(grammar.vocab)) != n_words or EOS in grammar.vocab:
        raise ValueError(f"vocab must hold distinct words and not {EOS!r}")
    if any(not word or any(ch.isspace() for ch in word) for word in grammar.vocab):
        raise ValueError("words must be non-empty and free of whitespace so rendering decodes")
    moves = grammar.transition[:, :-1]
    if n_states and np.abs(np.linalg.eigvals(moves)).max() >= 1.0 - 1e-12:
        raise ValueError("some states can never reach END: sentences would not terminate")
