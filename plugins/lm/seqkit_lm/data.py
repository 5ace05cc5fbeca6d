"""Language-model data: the built-in grammar corpus, folders of text files, Hugging Face text.

A word-level text is one sentence (or line) per line, ending in ``<eos>``, as in PTB. A
character-level text is read as it is, newlines included.
"""
from __future__ import annotations

from typing import Iterator

import torch

from seqkit.batching import StreamBatches
from seqkit.data import SPLITS, Source, data_files, hf_splits, read_text, split_files
from seqkit.errors import SeqkitError
from seqkit.task import TaskData
from seqkit.tokenizers import TextTokenizer
from seqkit_lm.config import Level, LMConfig
from seqkit_lm.grammar import Grammar, builtin_splits, render, unigram_ppl

SUFFIXES = (".txt", ".tokens", ".raw")  # the text files a folder's splits are read from


def read_texts(source: Source, config: LMConfig,
               level: Level) -> tuple[dict[str, str], dict[str, dict]]:
    """The raw text of every split the source has, and facts about each (floor perplexity).

    With ``source.whole``: one split, ``"whole"``, of all the text (every text file of a
    folder, whatever its name).
    """
    if source.kind == "builtin":
        return _grammar_texts(level, source.whole)
    if source.kind == "folder" and source.whole:
        texts = {"whole": "".join(read_text(p) for p in data_files(source.path, SUFFIXES))}
    elif source.kind == "folder":
        files = split_files(source.path, suffixes=SUFFIXES)
        texts = {split: "".join(read_text(p) for p in paths) for split, paths in files.items()}
    else:
        texts = {split: "\n".join(t for t in ds["text"]) for split, ds in _hf_text(source).items()}
        if source.whole:
            texts = {"whole": "\n".join(texts[s] for s in SPLITS if s in texts)}
    for split, text in texts.items():
        if not text.strip():
            raise SeqkitError(f"the {split} split of {source} has no text")
    if "train" in texts and "valid" not in texts and config.holdout > 0:
        cut = _line_boundary(texts["train"], 1 - config.holdout)
        texts["train"], texts["valid"] = texts["train"][:cut], texts["train"][cut:]
    return texts, {}


def _hf_text(source: Source) -> dict:
    splits = hf_splits(source)
    for name, ds in splits.items():
        if "text" not in ds.column_names:
            raise SeqkitError(f"{source} has no 'text' column (columns: {ds.column_names})")
    return splits


def _line_boundary(text: str, fraction: float) -> int:
    """Index just after the newline nearest ``fraction`` of the way through ``text``."""
    cut = int(len(text) * fraction)
    newline = text.rfind("\n", 0, cut)
    return newline + 1 if newline > 0 else cut


def _grammar_texts(level: Level, whole: bool = False) -> tuple[dict[str, str], dict[str, dict]]:
    """The grammar corpus, with the true model's perplexity (the floor) of every split."""
    grammar = Grammar.builtin()
    splits = builtin_splits()
    train = splits["train"]
    if whole:
        splits = {"whole": [s for name in SPLITS for s in splits.get(name, [])]}
    texts = {name: render(sentences) for name, sentences in splits.items()}
    meta = {}
    for name, sentences in splits.items():
        if level == "char":
            meta[name] = {"floor_ppl": grammar.char_floor_ppl(sentences)}
        else:
            meta[name] = {"floor_ppl": grammar.word_floor_ppl(sentences),
                          "unigram_ppl": unigram_ppl(train, sentences)}
    return texts, meta


PIECE = 1 << 16  # characters tokenised at a time: bounds the tokenizer's memory on huge files
LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines cuts at


def pieces(text: str, level: Level, size: int = PIECE) -> Iterator[str]:
    """``text`` in consecutive pieces of at most about ``size`` characters, so that a huge file
    (even one single line) is tokenised in bounded memory: cut after a line end where the piece
    has one, else at a space for words (never inside a word), anywhere for characters."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind(c, start, end) for c in "\n\r") + 1
            if cut <= start and level == "word":
                cut = max(text.rfind(c, start, end) for c in " \t") + 1
            end = cut if cut > start else end
            end += text[end - 1: end + 1] == "\r\n"  # keep a CRLF line end whole
        yield text[start:end]
        start = end


def training_texts(text: str, level: Level) -> Iterator[str]:
    """What a tokenizer learns its vocabulary from: every line of ``text`` for words (line
    ends are word breaks), pieces of it for characters; both in bounded memory."""
    for piece in pieces(text, level):
        yield from (piece.splitlines() if level == "word" else (piece,))


def encode(text: str, tokenizer: TextTokenizer, level: Level) -> torch.Tensor:
    """One id stream ``(N,)``: words with ``<eos>`` after every line, or every character.

    The text is tokenised a piece at a time, so memory stays proportional to the text (a 50 MB
    single-line file included), not to the tokenizer's per-token bookkeeping."""
    parts = []
    chunks = list(pieces(text, level))
    for number, piece in enumerate(chunks):
        if level == "char":
            parts.append(torch.tensor(tokenizer.encode(piece), dtype=torch.long))
            continue
        lines = piece.splitlines(keepends=True)
        ids: list[int] = []
        for index, (line, line_ids) in enumerate(zip(lines, tokenizer.encode_batch(
                [line.rstrip(LINE_ENDS) for line in lines]))):
            ids.extend(line_ids)
            last = number == len(chunks) - 1 and index == len(lines) - 1
            if line[-1:] in LINE_ENDS or last:  # a line ends here (or the text does)
                ids.append(tokenizer.eos_id)
        parts.append(torch.tensor(ids, dtype=torch.long))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def prepare(config: LMConfig, source: Source, tokenizer: TextTokenizer | None,
            level: Level) -> TaskData:
    """Read the splits, learn the vocabulary from train (unless given), and cut streams."""
    texts, meta = read_texts(source, config, level)
    if tokenizer is None and source.whole:
        raise SeqkitError("--split whole scores a trained model on new data: give it a run "
                          "(seqkit eval RUN --split whole), whose vocabulary it reuses")
    if tokenizer is None:
        if "train" not in texts:
            raise SeqkitError(f"{source} has no train split to learn a vocabulary from")
        tokenizer = TextTokenizer.train(training_texts(texts["train"], level), level,
                                        max_vocab=config.max_vocab)
    splits = {}
    for name, text in texts.items():
        ids = encode(text, tokenizer, level)
        batch = config.train.batch_size
        if name != "train":  # fewer streams for a short held-out text, rather than failing
            batch = max(1, min(config.eval_batch_size, (ids.numel() - 1) // config.train.bptt))
        splits[name] = StreamBatches(ids, batch, config.train.bptt, facts=meta.get(name))
    return TaskData(assets=tokenizer, splits=splits)

