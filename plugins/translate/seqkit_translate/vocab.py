"""The two vocabularies of a translation run: character, word, BPE or unigram tokenizers, learnt
with Hugging Face ``tokenizers`` from the training text of each side (or of both, shared).

Every kind is wrapped in the core's ``seqkit.tokenizers.TextTokenizer`` (``<pad> <unk> <bos>
<eos>``, ``encode``/``decode``/``unknown``), so the rest of the plugin never asks which kind it
holds. Subword tokenizers split on whitespace with a ``▁`` word marker (``Metaspace``) and
decode back to plain, detokenised text for scoring.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from seqkit.errors import SeqkitError
from seqkit.tokenizers import SPECIALS, UNK, TextTokenizer

SRC_FILE, TGT_FILE = "source_tokenizer.json", "target_tokenizer.json"


def train_subword(texts: Iterable[str], kind: str, vocab_size: int) -> TextTokenizer:
    """A BPE or unigram tokenizer of at most ``vocab_size`` symbols learnt from ``texts``."""
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                      show_progress=False)
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                          unk_token=UNK, show_progress=False)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(texts, trainer)
    if tokenizer.get_vocab_size() <= len(SPECIALS):
        raise SeqkitError("the training text is empty: no symbols to build a vocabulary from")
    return TextTokenizer(tokenizer)


def train_tokenizer(texts: list[str], kind: str, vocab_size: int,
                    min_count: int) -> TextTokenizer:
    """A tokenizer of ``kind`` (char, word, bpe, unigram) learnt from ``texts``."""
    if kind in ("bpe", "unigram"):
        return train_subword(texts, kind, vocab_size)
    return TextTokenizer.train(texts, kind, min_frequency=min_count)


@dataclass
class TranslateAssets:
    """What a translation run learns from its data and keeps beside its weights."""

    source: TextTokenizer  # source-side vocabulary
    target: TextTokenizer  # target-side vocabulary (the same object when shared)

    @property
    def shared(self) -> bool:
        """Whether both sides use one vocabulary (same symbols, same ids)."""
        return (self.source is self.target
                or self.source.tokenizer.to_str() == self.target.tokenizer.to_str())

    def save(self, folder: Path) -> None:
        """Write both tokenizers into ``folder``."""
        self.source.tokenizer.save(str(Path(folder) / SRC_FILE))
        self.target.tokenizer.save(str(Path(folder) / TGT_FILE))

    @classmethod
    def load(cls, folder: Path) -> "TranslateAssets":
        """Read what :meth:`save` wrote."""
        paths = [Path(folder) / name for name in (SRC_FILE, TGT_FILE)]
        for path in paths:
            if not path.is_file():
                raise SeqkitError(f"{path} is missing: {folder} is not a translate run")
        source, target = (TextTokenizer(Tokenizer.from_file(str(p))) for p in paths)
        return cls(source, target)


def learn_assets(sources: list[str], targets: list[str], src_kind: str, tgt_kind: str,
                 config) -> TranslateAssets:
    """Both vocabularies from the training text: ``src_kind``/``tgt_kind`` tokenizers (char,
    word, bpe, unigram) sized by ``config`` (a ``TranslateConfig``), or one shared."""
    if config.shared_vocab:
        shared = train_tokenizer(sources + targets, src_kind, config.vocab_size,
                                 config.min_count)
        return TranslateAssets(shared, shared)
    return TranslateAssets(
        train_tokenizer(sources, src_kind, config.vocab_size, config.min_count),
        train_tokenizer(targets, tgt_kind, config.vocab_size, config.min_count))
