"""The video task's data: tag vocabulary, decoding in the loader's workers, and batches.

A batch is a dict of batch-first tensors::

    {"frames": (B, T, 3, S, S) uint8, "lengths": (B,), "targets": (B, T) long or (B, T, K),
     "reset": (B,) bool (the row starts a clip: its carried state is dropped),
     "keys": (B,) int64 (a clip piece's identity, for the frozen-feature cache; -1: none),
     "index": (B,) the clip's number in the split (-1: an idle streaming row)}

Whole-clip batches (``BucketBatches``, bucketed by length) set every ``reset``. Streaming
batches (``ChunkBatches``) give each of ``B`` rows one clip at a time, ``bptt`` frames per
batch, so row ``b`` of batch ``i + 1`` continues row ``b`` of batch ``i``.
"""
from __future__ import annotations

import json
from dataclasses import astuple, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from seqkit.batching import BucketBatches, pad_features
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.rundir import write_json
from seqkit.task import TaskData
from seqkit_video.clips import make_clip, tag_names
from seqkit_video.config import ClipConfig, VideoConfig
from seqkit_video.decode import Limits, iter_frames, read_frames, read_video
from seqkit_video.sources import CLIP_FPS, VideoExample, read_examples
from seqkit_video.streaming import ChunkBatches

TAGS_FILE = "tags.json"


@dataclass
class VideoAssets:
    """What a video run learns from its data: the tags, and whether a frame has several."""

    tags: list[str]  # tag names; tags[0] is the background tag
    multilabel: bool = False  # a sigmoid per tag instead of one softmax over them
    from_run: bool = False  # read from a run dir: weights come from there, never downloaded

    def save(self, folder: Path) -> None:
        """Write ``tags.json``."""
        write_json(Path(folder) / TAGS_FILE, {"tags": self.tags, "multilabel": self.multilabel})

    @classmethod
    def load(cls, folder: Path) -> "VideoAssets":
        """Read ``tags.json``."""
        path = Path(folder) / TAGS_FILE
        if not path.is_file():
            raise SeqkitError(f"{path} is missing: {folder} is not a video run")
        data = json.loads(path.read_text())
        return cls(data["tags"], data["multilabel"], from_run=True)


def learn_tags(config: VideoConfig, source: Source, train: list[VideoExample]) -> VideoAssets:
    """The built-in tags, or the background tag then every tag of the training clips."""
    if source.kind == "builtin":
        return VideoAssets(tag_names(config.clips), config.multilabel)
    seen = {tag for e in train for _, _, tag in e.segments}
    seen |= {tag for e in train for tags in (e.frame_tags or ()) for tag in tags}
    return VideoAssets([config.background] + sorted(seen - {config.background}),
                       config.multilabel)


@lru_cache(maxsize=2048)
def _rendered(clips: tuple, split: str, index: int, size: int) -> np.ndarray:
    """A built-in clip's frames ``(T, S, S, 3)`` uint8, rendered once per process and kept
    (callers copy, never write): drawing them again every epoch cost a fifth of a training
    step. The 1,380 default clips at 32x32 take about 300 MB."""
    return make_clip(ClipConfig(*clips), split, index).render(size)


def decode(example: VideoExample, config: VideoConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(frames (T, S, S, 3) uint8, positions (T,))``: each frame's place in the unit of the
    example's segments (frame number from 0, or seconds)."""
    size = config.frame_size
    if example.kind == "clip":
        split, index = example.ref
        frames = _rendered(astuple(config.clips), split, index, size)
        return frames, np.arange(len(frames))
    if example.kind == "frames":
        frames = read_frames(list(example.ref), size, Limits.of(config))
        return frames, np.arange(len(frames))
    frames, numbers, times = read_video(example.ref, size, config.fps, Limits.of(config))
    return frames, (times if example.unit == "second" else numbers)


def frame_targets(example: VideoExample, positions: np.ndarray,
                  assets: VideoAssets) -> torch.Tensor:
    """Per-frame targets: ``(T,)`` tag ids, or ``(T, K)`` 0/1 for multi-label."""
    index = {tag: i for i, tag in enumerate(assets.tags)}
    on = np.zeros((len(positions), len(assets.tags)), dtype=bool)
    if example.frame_tags is not None:
        pairs = [(t, tag) for t, p in enumerate(positions)
                 for tag in example.frame_tags[min(int(p), len(example.frame_tags) - 1)]]
    else:
        pairs = [(t, tag) for start, end, tag in example.segments
                 for t in np.nonzero((positions >= start) & (positions < end))[0]]
    for t, tag in pairs:
        if tag not in index:
            raise SeqkitError(f"{example.name}: the tag '{tag}' is not one this model knows "
                              f"({', '.join(assets.tags[:12])}...)")
        on[t, index[tag]] = True
    on[~on.any(1), 0] = True  # frames outside every segment: the background tag
    if assets.multilabel:
        return torch.from_numpy(on).float()
    return torch.from_numpy(on.argmax(1))  # one tag a frame: overlaps were refused


def shuffled_colours(frames: torch.Tensor, number: int, fraction: float, seed: int
                     ) -> torch.Tensor:
    """``frames (T, 3, H, W)`` with its colour channels in another order, for a ``fraction``
    of the clips (which ones, and the order, depend only on the clip's ``number`` and the
    seed, so a resumed run sees the same pixels). Tags say what shapes do, not what colour
    they wear: this stops a model from telling kinds apart by the colours training showed
    them in."""
    rng = np.random.default_rng([seed, number])
    if frames.size(1) != 3 or rng.random() >= fraction:
        return frames
    order = [(1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)][rng.integers(5)]
    return frames[:, list(order)]


class Collate:
    """Decode and pad a list of ``(example number, example)`` into a batch (module docstring).

    Runs in the DataLoader's workers, so decoding never holds up the training loop.
    ``augment``: shuffle the colour channels of ``config.colour_shuffle`` of the clips."""

    def __init__(self, config: VideoConfig, assets: VideoAssets, key_base: int,
                 augment: bool = False):
        self.config, self.assets, self.key_base = config, assets, key_base
        self.shuffle = config.colour_shuffle if augment else 0.0

    def __call__(self, items: list[tuple[int, VideoExample]]) -> dict:
        frames, targets = [], []
        for number, example in items:
            pixels, positions = decode(example, self.config)
            clip = torch.from_numpy(pixels).permute(0, 3, 1, 2)
            if self.shuffle:
                clip = shuffled_colours(clip, number, self.shuffle, self.config.train.seed)
            frames.append(clip)
            targets.append(frame_targets(example, positions, self.assets))
        padded, lengths = pad_features(frames, 0)
        index = torch.tensor([i for i, _ in items])
        return {"frames": padded, "lengths": lengths, "targets": pad_features(targets, 0)[0],
                "reset": torch.ones(len(items), dtype=torch.bool),
                "keys": self.key_base + index * 1_000_000, "index": index}

    def pieces(self, item: tuple[int, VideoExample], size: int) -> Iterator[dict]:
        """One clip as successive one-row batches of ``size`` frames. A video file is decoded
        piece by piece, so memory stays bounded however long it is."""
        number, example = item
        if example.kind != "video":
            whole = self([item])
            for start in range(0, int(whole["lengths"][0]), size):
                yield _cut(whole, start, size)
            return
        start = 0
        for frames, numbers, times in iter_frames(example.ref, self.config.frame_size,
                                                  self.config.fps, Limits.of(self.config),
                                                  chunk=size):
            positions = times if example.unit == "second" else numbers
            piece = torch.from_numpy(frames).permute(0, 3, 1, 2)
            if self.shuffle:  # the same order for every piece of the clip
                piece = shuffled_colours(piece, number, self.shuffle, self.config.train.seed)
            yield {"frames": piece.unsqueeze(0),
                   "lengths": torch.tensor([len(frames)]),
                   "targets": frame_targets(example, positions, self.assets).unsqueeze(0),
                   "keys": torch.tensor([self.key_base + number * 1_000_000 + start]),
                   "index": torch.tensor([number])}
            start += len(frames)


def _cut(batch: dict, start: int, size: int) -> dict:
    """Frames ``start:start + size`` of a one-row batch."""
    count = min(size, int(batch["lengths"][0]) - start)
    return {"frames": batch["frames"][:, start: start + count],
            "targets": batch["targets"][:, start: start + count],
            "lengths": torch.tensor([count]), "keys": batch["keys"] + start,
            "index": batch["index"]}


_KEY_BASES = {"train": 1, "valid": 2, "test": 3, "whole": 4}


def make_batches(split: str, examples: list[VideoExample], config: VideoConfig,
                 assets: VideoAssets):
    """Streaming chunks for training a streaming model, else length-bucketed whole clips."""
    collate = Collate(config, assets, _KEY_BASES.get(split, 5) * 10**15,
                      augment=split == "train")
    context = {"names": [e.name for e in examples], "fps": CLIP_FPS}
    items = list(enumerate(examples))
    if split == "train" and config.stream:
        return ChunkBatches(items, config.train.batch_size, config.train.bptt, collate.pieces,
                            lambda item: item[1].frames, seed=config.train.seed,
                            workers=config.train.workers, context=context)
    return BucketBatches.from_config(items, config.train, lambda item: item[1].frames, collate,
                                     shuffle=split == "train", context=context)


def check_config(config: VideoConfig) -> None:
    """Refuse settings that cannot work together."""
    if config.stream and config.bidirectional:
        raise SeqkitError("stream=True trains in chunks that carry the state forward, which a "
                          "bidirectional RNN cannot do: add --no-bidirectional")
    if not 0.0 <= config.colour_shuffle <= 1.0:
        raise SeqkitError(f"colour_shuffle is a fraction of the clips, 0 to 1, not "
                          f"{config.colour_shuffle}")
    if config.frame_size < 8:
        raise SeqkitError(f"frame_size {config.frame_size} is too small (at least 8)")


def prepare(config: VideoConfig, source: Source, assets: VideoAssets | None) -> TaskData:
    """Read the clips, learn the tags from the training split (unless given), batch them."""
    check_config(config)
    splits = read_examples(config, source)
    if assets is None:
        if "train" not in splits:
            raise SeqkitError(f"{source} has no training split to learn the tags from")
        assets = learn_tags(config, source, splits["train"])
    if assets.multilabel != config.multilabel:
        raise SeqkitError("the run was trained with multilabel="
                          f"{assets.multilabel}; the config says {config.multilabel}")
    return TaskData(assets, {name: make_batches(name, examples, config, assets)
                             for name, examples in splits.items()})
