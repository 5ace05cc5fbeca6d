"""The translate task's data: splits by source sentence, vocabularies, and token-budget batches.

Training batches hold one (source, target) pair per row; a source with several references
(a word with two pronunciations) appears once per reference. Held-out batches hold each source
once with all its references. Both are the core's ``Seq2SeqBatch``::

    src (B, S) source ids, src_lengths (B,), index (B,) source numbers in the split,
    tgt (N, T) <bos> target <eos> <pad>..., tgt_lengths (N,), owner (N,) source row of each

An example's length is the wider of its two padded rows, ``max(S, T)``, so a batch filled to
``--train.batch-tokens`` keeps both its source and its (training) target tensors in budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from seqkit.batching import BucketBatches, pad
from seqkit.data import Source, holdout_indices
from seqkit.errors import SeqkitError
from seqkit.seq2seq import Seq2SeqBatch, target_batch
from seqkit.task import TaskData
from seqkit_translate.config import TranslateConfig
from seqkit_translate.sources import PairSet, g2p_pairs, named_split, read_folder, read_hf
from seqkit_translate.vocab import TranslateAssets, learn_assets


@dataclass
class TranslateSplit:
    """What ``evaluate`` reads beside a split's batches (their ``context``)."""

    data: PairSet  # the split's sources and references, in split order
    groups: list[tuple[str, int, int]]  # named test sets side by side: (name, first, end) rows
    g2p: bool  # grapheme-to-phoneme data: word and phoneme error rates are reported


def resolved_levels(config: TranslateConfig, source: Source) -> tuple[str, str]:
    """The tokenizer kinds of both sides; ``auto``: characters -> phoneme words for the
    built-in G2P data, BPE subwords for text."""
    g2p = source.kind == "builtin"
    src = config.src_tokenizer if config.src_tokenizer != "auto" else ("char" if g2p else "bpe")
    tgt = config.tgt_tokenizer if config.tgt_tokenizer != "auto" else ("word" if g2p else "bpe")
    return src, tgt


def _cut(data: PairSet, fractions: dict[str, float]) -> dict[str, PairSet]:
    return {split: data.subset(rows) for split, rows in holdout_indices(len(data),
                                                                        fractions).items()}


def _merge(parts: list[PairSet]) -> PairSet:
    whole = PairSet()
    for part in parts:
        whole.extend(part)
    return whole


def read_splits(config: TranslateConfig, source: Source) -> tuple[dict[str, PairSet], list[str]]:
    """Every split of ``source`` (train, valid, test, and each named test set on its own) and
    the names of the test sets that ``test`` holds side by side, in order."""
    if source.kind == "builtin":
        found = {"g2p": g2p_pairs(config.g2p.stress, config.g2p.words)}
        fractions = {"valid": config.g2p.valid_fraction, "test": config.g2p.test_fraction}
    else:
        found = read_folder(source.path, config) if source.kind == "folder" else \
            read_hf(source, config)
        fractions = {"valid": config.valid_fraction, "test": config.test_fraction}
    if source.whole:
        return {"whole": _merge(list(found.values()))}, []
    by_split: dict[str | None, list[str]] = {}
    for stem in found:
        by_split.setdefault(named_split(stem), []).append(stem)
    if None in by_split and len(by_split) > 1:
        raise SeqkitError(f"{source} mixes files that name a split (train, valid/val, test) with "
                          f"files that name none ({', '.join(by_split[None])}); name all or none")
    if None in by_split:
        return _cut(_merge(list(found.values())), fractions), []
    splits = {name: _merge([found[s] for s in stems]) for name, stems in by_split.items()}
    if "train" in splits and "valid" not in splits and fractions["valid"] > 0:
        splits.update(_cut(splits.pop("train"), {"valid": fractions["valid"]}))
    tests = by_split.get("test", [])
    if len(tests) > 1:
        splits.update({stem: found[stem] for stem in tests})
    return splits, tests


class Collate:
    """Lists of examples -> ``Seq2SeqBatch`` (see the module docstring)."""

    def __init__(self, assets: TranslateAssets):
        self.src_pad = assets.source.pad_id
        tgt = assets.target
        self.bos, self.eos, self.pad = tgt.bos_id, tgt.eos_id, tgt.pad_id

    def _batch(self, sources: list[list[int]], targets: list[list[int]], owner, index):
        src, src_lengths = pad(sources, self.src_pad)
        tgt, tgt_lengths = target_batch(targets, self.bos, self.eos, self.pad)
        return Seq2SeqBatch(src, src_lengths, tgt, tgt_lengths,
                            None if owner is None else torch.tensor(owner), torch.tensor(index))

    def train(self, examples: list[tuple[int, list[int], list[int]]]) -> Seq2SeqBatch:
        """One (source, target) pair per row."""
        return self._batch([s for _, s, _ in examples], [t for _, _, t in examples], None,
                           [i for i, _, _ in examples])

    def held_out(self, examples: list[tuple[int, list[int], list[list[int]]]]) -> Seq2SeqBatch:
        """One source per row, with all its references."""
        owner = [row for row, (_, _, refs) in enumerate(examples) for _ in refs]
        return self._batch([s for _, s, _ in examples], [t for _, _, refs in examples for t in refs],
                           owner, [i for i, _, _ in examples])


def encode_sources(texts: list[str], config: TranslateConfig, assets: TranslateAssets,
                   where: str) -> list[list[int]]:
    """Source ids, each at most ``max_source`` long: longer ones are cut with one warning, or
    refused, as ``config.overlong`` says; an empty source is refused."""
    encoded = assets.source.encode_batch(texts)
    for i, ids in enumerate(encoded):
        if not ids:
            raise SeqkitError(f"{where}: sentence {i + 1} is empty; give some text")
    long = [i for i, ids in enumerate(encoded) if len(ids) > config.max_source]
    if long and config.overlong == "reject":
        i = long[0]
        raise SeqkitError(f"{where}: sentence {i + 1} has {len(encoded[i])} tokens, more than "
                          f"max_source {config.max_source} (and {len(long) - 1} more); shorten "
                          "it, raise --max-source, or set --overlong truncate")
    if long:
        print(f"seqkit: warning: {where}: {len(long)} sentence(s) longer than max_source "
              f"{config.max_source} tokens were cut to it")
    return [ids[: config.max_source] for ids in encoded]


def make_batches(split: str, data: PairSet, config: TranslateConfig, assets: TranslateAssets,
                 context: TranslateSplit) -> BucketBatches:
    """Token-budget, length-bucketed batches of one split (per pair for train, per source
    otherwise)."""
    sources = encode_sources(data.sources, config, assets, f"the {split} split")
    targets = [assets.target.encode_batch(refs) for refs in data.targets]
    collate = Collate(assets)
    if split == "train":
        examples = [(i, src, tgt) for i, (src, refs) in enumerate(zip(sources, targets))
                    for tgt in refs]
        return BucketBatches.from_config(examples, config.train,
                                         lambda e: max(len(e[1]), len(e[2]) + 2),
                                         collate.train, context=context)
    examples = [(i, src, refs) for i, (src, refs) in enumerate(zip(sources, targets))]
    return BucketBatches.from_config(examples, config.train,
                                     lambda e: max(len(e[1]), max(map(len, e[2])) + 2),
                                     collate.held_out, shuffle=False, context=context)


def prepare(config: TranslateConfig, source: Source, assets: TranslateAssets | None) -> TaskData:
    """Read the data, learn the vocabularies from its training split (unless given), batch it."""
    splits, tests = read_splits(config, source)
    if assets is None:
        train = splits.get("train")
        if train is None:
            raise SeqkitError(f"{source} has no training split to learn a vocabulary from")
        src_kind, tgt_kind = resolved_levels(config, source)
        assets = learn_assets(train.sources, [t for refs in train.targets for t in refs],
                              src_kind, tgt_kind, config)
    g2p = source.kind == "builtin"
    batches = {}
    for name, data in splits.items():
        groups = [("", 0, len(data))]
        if name == "test" and len(tests) > 1:
            sizes = [len(splits[stem]) for stem in tests]
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            groups = [(stem.removeprefix("test_"), start, start + size)
                      for stem, start, size in zip(tests, starts, sizes)]
        batches[name] = make_batches(name, data, config, assets, TranslateSplit(data, groups, g2p))
    return TaskData(assets, batches)
