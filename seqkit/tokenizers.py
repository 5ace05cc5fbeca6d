"""Character- and word-level tokenizers, trained and saved with Hugging Face ``tokenizers``.

Both use a ``WordLevel`` model: the word tokenizer splits on whitespace, the character tokenizer
isolates every character (spaces and newlines included). Symbols never seen in training map to
``<unk>``; ``unknown(text)`` lists them so callers can say so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from seqkit.errors import SeqkitError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = [PAD, UNK, BOS, EOS]
FILENAME = "tokenizer.json"
Level = Literal["word", "char"]


class TextTokenizer:
    """Text <-> token ids. ``pad_id`` is 0, then ``unk_id``, ``bos_id``, ``eos_id``."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (
            tokenizer.token_to_id(t) for t in SPECIALS)

    @classmethod
    def train(cls, texts: Iterable[str], level: Level = "word", max_vocab: int = 0,
              min_frequency: int = 1) -> "TextTokenizer":
        """Learn a vocabulary from ``texts`` (at most ``max_vocab`` symbols; 0: all)."""
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        if level == "char":
            tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
            tokenizer.decoder = decoders.Fuse()
        elif level == "word":
            tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        else:
            raise SeqkitError(f"tokenizer level must be 'word' or 'char', not '{level}'")
        trainer = trainers.WordLevelTrainer(vocab_size=max_vocab or 10**9,
                                            min_frequency=min_frequency, special_tokens=SPECIALS,
                                            show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        if tokenizer.get_vocab_size() <= len(SPECIALS):
            raise SeqkitError("the training text is empty: no symbols to build a vocabulary from")
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        """Size of an embedding table for these ids: the largest id + 1.

        Usually the number of symbols; one more when the training text itself contains
        ``<unk>`` (as PTB does), which the trainer then counts as a word and numbers anew.
        """
        return max(self.tokenizer.get_vocab().values()) + 1

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; unseen symbols become ``unk_id``."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of many texts at once (parallel in Rust)."""
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; padding is dropped, ``<unk>``/``<eos>`` stay visible."""
        ids = [i for i in ids if i != self.pad_id]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def id_to_token(self, index: int) -> str:
        """The symbol with id ``index``."""
        return self.tokenizer.id_to_token(index)

    def unknown(self, text: str) -> list[str]:
        """The symbols of ``text`` that are not in the vocabulary (each once, in order)."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        found = []
        for index, (start, end) in zip(encoding.ids, encoding.offsets):
            piece = text[start:end]
            if index == self.unk_id and piece != UNK and piece not in found:
                found.append(piece)
        return found

    def save(self, folder: str | Path) -> None:
        """Write ``tokenizer.json`` into ``folder``."""
        self.tokenizer.save(str(Path(folder) / FILENAME))

    @classmethod
    def load(cls, folder: str | Path) -> "TextTokenizer":
        """Read ``tokenizer.json`` from ``folder``."""
        path = Path(folder) / FILENAME
        if not path.is_file():
            raise SeqkitError(f"{path} is missing: the run dir has no tokenizer")
        return cls(Tokenizer.from_file(str(path)))
