"""The caption task's data: splits by image, the vocabulary, the baseline bank, and batches.

Training batches hold one caption each (an image with five captions appears five times per
epoch); held-out batches hold each image once with all its captions. Both are the core's
``Seq2SeqBatch``::

    src (M, 3, H, W) uint8 images, src_lengths None, index (M,) image numbers in the split,
    tgt (N, T) <bos> caption <eos> <pad>..., tgt_lengths (N,), owner (N,) image row of each

``owner`` is None in training batches, where caption n belongs to image n (N = M).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from seqkit.batching import BucketBatches
from seqkit.data import Source, holdout_indices
from seqkit.errors import SeqkitError
from seqkit.seq2seq import Seq2SeqBatch, target_batch
from seqkit.task import TaskData
from seqkit.tokenizers import TextTokenizer
from seqkit.vision import hf_config, is_hf
from seqkit_caption.config import CaptionConfig
from seqkit_caption.images import ImageLoader
from seqkit_caption.pretrained import use_photo_encoder
from seqkit_caption.scenes import make_scenes, scene_refs
from seqkit_caption.sources import CaptionSet, read_source

BANK_SEED = 0  # which training images form the baseline bank depends on the data only


@dataclass
class CaptionAssets:
    """What a caption run learns from its data and keeps beside its weights."""

    tokenizer: TextTokenizer  # word-level vocabulary of the training captions
    bank_captions: list[str]  # the caption of each training image in the baseline bank
    hf_config: Any = None  # transformers config of a Hugging Face backbone, else None
    from_run: bool = False  # read from a run dir: weights come from there, never downloaded


def scene_splits(config: CaptionConfig) -> dict[str, CaptionSet]:
    """The built-in scenes: train and valid share compositions, test holds the held-out ones."""
    sizes = {"train": config.scenes.train_images, "valid": config.scenes.valid_images,
             "test": config.scenes.test_images}
    splits = {}
    for split, count in sizes.items():
        if count > 0:
            scenes = make_scenes(config.scenes, split, count)
            splits[split] = CaptionSet(scene_refs(scenes, config.scenes.canvas),
                                       [[s.caption()] for s in scenes],
                                       [f"{split} scene {i}" for i in range(count)])
    return splits


def split_by_image(data: CaptionSet, fractions: dict[str, float]) -> dict[str, CaptionSet]:
    """Cut one set into ``train`` and the held-out ``fractions`` by image (never by caption),
    in a seeded order that depends on nothing but the data."""
    return {split: data.subset(rows) for split, rows in holdout_indices(len(data),
                                                                        fractions).items()}


def read_splits(config: CaptionConfig, source: Source) -> dict[str, CaptionSet]:
    """Every split of ``source``; missing held-out splits are cut from the training images."""
    found = scene_splits(config) if source.kind == "builtin" else read_source(source)
    if source.whole:  # every image as one set, whatever the files say about splits
        whole = CaptionSet()
        for part in found.values():
            whole.extend(part)
        return {"whole": whole}
    if source.kind == "builtin":
        return found
    named = {k: v for k, v in found.items() if k is not None}
    if None in found and named:
        raise SeqkitError(f"{source} mixes caption files that name a split (train, valid, test) "
                          "with files that name none; name all of them or none")
    if None in found:
        return split_by_image(found[None], {"valid": config.valid_fraction,
                                            "test": config.test_fraction})
    if "train" in named and "valid" not in named and config.valid_fraction > 0:
        named.update(split_by_image(named.pop("train"), {"valid": config.valid_fraction}))
    return named


def bank_indices(train: CaptionSet, count: int) -> list[int]:
    """The training images of the nearest-neighbour baseline (a seeded sample of ``count``)."""
    order = list(range(len(train)))
    random.Random(BANK_SEED).shuffle(order)
    return order[:count]


class BankImages:
    """The baseline bank's images, to recompute their features with the current encoder."""

    def __init__(self, train: CaptionSet, indices: list[int], loader: ImageLoader):
        self.train, self.indices, self.loader = train, indices, loader

    def batches(self, size: int, device: torch.device) -> Iterator[torch.Tensor]:
        """``(b, 3, H, W)`` uint8 batches of the bank images, in bank order."""
        for start in range(0, len(self.indices), size):
            chunk = self.indices[start: start + size]
            yield torch.stack([self.loader(self.train.images[i], ("train", i),
                                           self.train.names[i]) for i in chunk]).to(device)


class Collate:
    """Lists of examples -> ``Seq2SeqBatch`` (see the module docstring)."""

    def __init__(self, split: str, data: CaptionSet, loader: ImageLoader,
                 tokenizer: TextTokenizer):
        self.split, self.data, self.loader = split, data, loader
        self.bos, self.eos, self.pad = tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id

    def _images(self, indices: list[int]) -> torch.Tensor:
        return torch.stack([self.loader(self.data.images[i], (self.split, i), self.data.names[i])
                            for i in indices])

    def _batch(self, indices: list[int], captions: list[list[int]],
               owner: list[int] | None) -> Seq2SeqBatch:
        tgt, lengths = target_batch(captions, self.bos, self.eos, self.pad)
        return Seq2SeqBatch(self._images(indices), None, tgt, lengths,
                            None if owner is None else torch.tensor(owner), torch.tensor(indices))

    def train(self, examples: list[tuple[int, list[int]]]) -> Seq2SeqBatch:
        """One caption per row."""
        return self._batch([i for i, _ in examples], [ids for _, ids in examples], None)

    def held_out(self, examples: list[tuple[int, list[list[int]]]]) -> Seq2SeqBatch:
        """One image per row, with all its captions."""
        owner = [row for row, (_, caps) in enumerate(examples) for _ in caps]
        return self._batch([i for i, _ in examples],
                           [ids for _, caps in examples for ids in caps], owner)


@dataclass
class CaptionSplit:
    """What the caption task's ``evaluate`` reads beside a split's batches (their ``context``)."""

    data: CaptionSet  # the split's images and captions
    scenes: bool  # the built-in scenes: exact match is reported
    bank: BankImages | None  # the run's own training images for the baseline bank, if at hand

    @property
    def captions(self) -> list[list[str]]:
        """The reference captions of every image, in split order."""
        return self.data.captions


def make_batches(split: str, data: CaptionSet, config: CaptionConfig, assets: CaptionAssets,
                 loader: ImageLoader, context: CaptionSplit) -> BucketBatches:
    """Length-bucketed batches of one split (per caption for train, per image otherwise)."""
    encoded = [assets.tokenizer.encode_batch(caps) for caps in data.captions]
    collate = Collate(split, data, loader, assets.tokenizer)
    if split == "train":
        examples = [(i, ids) for i, caps in enumerate(encoded) for ids in caps]
        return BucketBatches.from_config(examples, config.train, lambda e: len(e[1]),
                                         collate.train, context=context)
    examples = list(enumerate(encoded))
    return BucketBatches.from_config(examples, config.train, lambda e: max(map(len, e[1])),
                                     collate.held_out, shuffle=False, context=context)


def prepare(config: CaptionConfig, source: Source, assets: CaptionAssets | None) -> TaskData:
    """Read the data, learn the assets from its training split (unless given), batch it.
    A new run on real images takes the photo encoder's settings into ``config`` (see
    ``seqkit_caption.pretrained``)."""
    if assets is None:  # a new run: on real images, the pretrained photo encoder
        use_photo_encoder(config, source)
    splits = read_splits(config, source)
    train = splits.get("train")
    if assets is None:
        if train is None:
            raise SeqkitError(f"{source} has no training split to learn a vocabulary from")
        tokenizer = TextTokenizer.train((c for caps in train.captions for c in caps), "word",
                                        min_frequency=config.min_count)
        bank = [train.captions[i][0] for i in bank_indices(train, config.baseline_images)]
        backbone = hf_config(config.backbone) if is_hf(config.backbone) else None
        assets = CaptionAssets(tokenizer, bank, backbone)
    loader = ImageLoader(config.image_size, config.max_pixels, config.cache_images)
    bank = None
    if train is not None:
        indices = bank_indices(train, len(assets.bank_captions))
        if [train.captions[i][0] for i in indices] == assets.bank_captions:
            bank = BankImages(train, indices, loader)  # the run's own training images
    scenes = source.kind == "builtin"
    batches = {name: make_batches(name, data, config, assets, loader,
                                  CaptionSplit(data, scenes, bank))
               for name, data in splits.items()}
    return TaskData(assets, batches)
