"""Where labelled clips come from: ``--data`` is nothing, a folder, or ``hf:NAME[:CONFIG]``.

- nothing: the built-in generated clips (``seqkit_video.clips``), train/valid/test;
- a folder with frame folders and annotation files (``*.txt`` of ``path start end label``
  lines), or video files and label CSVs (``*.csv``; see ``seqkit_video.annotations``). A file
  whose name says train, valid/val or test gives that split; files that name none are one set,
  cut into splits by clip;
- a Hugging Face dataset with a ``video`` column (file paths or ``{"path", "bytes"}``) or a
  ``frames`` column (lists of images), and a per-frame ``labels`` column.

Each clip becomes a ``VideoExample``: where its frames are, how many, and its segments.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from seqkit.data import Source, hf_splits, holdout_indices, split_of
from seqkit.errors import SeqkitError
from seqkit_video.annotations import (Labelled, Segment, check_extent, read_annotation_file,
                                      read_label_csv)
from seqkit_video.clips import make_clip
from seqkit_video.config import VideoConfig
from seqkit_video.decode import Limits, frame_files, video_info

CLIP_FPS = 25.0  # nominal frame rate of the built-in clips


@dataclass(frozen=True)
class VideoExample:
    """One labelled clip, not yet decoded."""

    name: str  # for messages and tables: a path, or "train clip 3"
    kind: str  # "clip" (built-in), "frames" (image files), "video" (a file or its bytes)
    ref: Any  # (split, index) | tuple of image paths | Path | bytes
    frames: int  # frames after sampling (for videos: estimated from the header)
    unit: str = "frame"  # unit of the segments: "frame" (numbered from 0) or "second"
    segments: tuple[Segment, ...] = ()  # (start, end exclusive, tag)
    frame_tags: tuple[tuple[str, ...], ...] | None = None  # per-frame tags (HF, built-in)


def tags_to_segments(tags: list[list[str]]) -> tuple[Segment, ...]:
    """Per-frame tag lists -> one segment per run of each tag."""
    out, open_at = [], {}
    for t, now in enumerate([*tags, []]):
        for tag in list(open_at):
            if tag not in now:
                out.append((open_at.pop(tag), t, tag))
        for tag in now:
            open_at.setdefault(tag, t)
    return tuple(sorted(out))


def builtin_examples(config: VideoConfig) -> dict[str, list[VideoExample]]:
    """The generated clips of each split (tags are computed now, pixels when batched)."""
    clips = replace(config.clips, overlap=config.clips.overlap and config.multilabel)
    sizes = {"train": clips.train_clips, "valid": clips.valid_clips, "test": clips.test_clips}
    out = {}
    for split, count in sizes.items():
        examples = []
        for i in range(count):
            clip = make_clip(clips, split, i)
            examples.append(VideoExample(f"{split} clip {i}", "clip", (split, i), clip.frames,
                                         segments=tags_to_segments(clip.tags)))
        if examples:
            out[split] = examples
    return out


def _from_labelled(entry: Labelled, config: VideoConfig) -> VideoExample:
    limits = Limits.of(config)
    if entry.path.is_dir():
        files = frame_files(entry.path)
        check_extent(entry, len(files), len(files) / CLIP_FPS)
        return VideoExample(str(entry.path), "frames", tuple(files), len(files), entry.unit,
                            tuple(entry.segments))
    info = video_info(entry.path, limits)
    frames = info["frames"] or round(info["seconds"] * info["fps"])
    check_extent(entry, frames, info["seconds"])
    if config.fps > 0:
        frames = max(1, round(info["seconds"] * min(config.fps, info["fps"] or config.fps)))
    return VideoExample(str(entry.path), "video", entry.path, frames, entry.unit,
                        tuple(entry.segments))


def folder_examples(config: VideoConfig, folder: Path) -> dict[str | None, list[VideoExample]]:
    """Frame folders (``*.txt`` annotations) or videos (``*.csv`` labels), grouped by the
    split their label file names (None: no split named)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".txt", ".csv") and p.is_file()
                   and not p.name.lower().startswith(("license", "readme")))
    if not files:
        raise SeqkitError(f"{folder} has no annotation file (*.txt lines 'path start_frame "
                          "end_frame label', or a label *.csv)")
    out: dict[str | None, list[VideoExample]] = {}
    for file in files:
        read = read_label_csv if file.suffix == ".csv" else read_annotation_file
        for entry in read(file, config.multilabel):
            out.setdefault(split_of(file.stem), []).append(_from_labelled(entry, config))
    return out


def _hf_example(row: dict, name: str, config: VideoConfig, tag_names: list[str] | None):
    labels = row.get("labels", row.get("label"))
    if not isinstance(labels, (list, tuple)):
        raise SeqkitError(f"{name}: needs a per-frame 'labels' list")
    tags = tuple((tag_names[x] if tag_names and isinstance(x, int) else str(x),) for x in labels)
    if "frames" in row:
        frames = tuple(row["frames"])
        return VideoExample(name, "frames", frames, len(frames), frame_tags=tags)
    video = row.get("video")
    if isinstance(video, dict):
        video = video.get("bytes") or video.get("path")
    if not isinstance(video, (str, bytes)):
        raise SeqkitError(f"{name}: needs a 'video' (path or bytes) or a 'frames' column")
    ref = Path(video) if isinstance(video, str) else video
    return VideoExample(name, "video", ref, len(tags), frame_tags=tags)


def hf_examples(config: VideoConfig, source: Source) -> dict[str | None, list[VideoExample]]:
    """Clips of a Hugging Face dataset (see the module docstring); per-frame labels, one each."""
    out = {}
    for split, data in hf_splits(source).items():
        feature = data.features.get("labels")
        names = getattr(getattr(feature, "feature", None), "names", None)
        if "video" in data.column_names:
            from datasets import Video

            data = data.cast_column("video", Video(decode=False))
        out[split] = [_hf_example(row, f"{source} {split} {i}", config, names)
                      for i, row in enumerate(data)]
    return out


def split_by_clip(examples: list[VideoExample], fractions: dict[str, float]) -> dict:
    """Cut one set into ``train`` and held-out ``fractions`` by clip, in an order that depends
    only on the data."""
    splits = holdout_indices(len(examples), fractions)
    return {split: [examples[i] for i in rows] for split, rows in splits.items() if rows}


def read_examples(config: VideoConfig, source: Source) -> dict[str, list[VideoExample]]:
    """Every split of ``source`` (one split "whole" when ``source.whole``)."""
    if source.kind == "builtin":
        found: dict = builtin_examples(config)
    elif source.kind == "hf":
        found = hf_examples(config, source)
    else:
        found = folder_examples(config, source.path)
    if source.whole:
        return {"whole": [e for examples in found.values() for e in examples]}
    if None in found:
        if len(found) > 1:
            raise SeqkitError(f"{source} mixes label files that name a split (train, valid, "
                              "test) with files that name none; name all of them or none")
        return split_by_clip(found[None], {"valid": config.valid_fraction,
                                           "test": config.test_fraction})
    return found
