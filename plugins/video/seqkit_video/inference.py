"""Tagging videos with a trained run: per-frame probabilities, smoothed tags, and segments.

A unidirectional model streams: the video is decoded and tagged ``chunk`` frames at a time,
carrying the RNN state, so memory stays flat however long the video is. A bidirectional model
needs the whole clip at once (it reads it both ways).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from seqkit.errors import SeqkitError
from seqkit_video.clips import make_clip
from seqkit_video.decode import Limits, iter_frames, read_frames, frame_files
from seqkit_video.smoothing import smooth_labels, smooth_multilabel
from seqkit_video.sources import CLIP_FPS


@dataclass
class Tagging:
    """What a model says about one video."""

    probs: torch.Tensor  # (T, K) per-frame tag probabilities
    on: torch.Tensor  # (T,) tag ids, or (T, K) bool for multi-label (after smoothing)
    times: np.ndarray  # (T,) each frame's time in seconds
    tags: list[str]  # tag names
    frames_per_s: float  # frames tagged per second of wall time, decoding included
    strip: list[np.ndarray] = field(default_factory=list)  # a few frames (S, S, 3), evenly spaced

    def frame_tags(self) -> list[list[str]]:
        """The tags of each frame."""
        if self.on.dim() == 1:
            return [[self.tags[i]] for i in self.on.tolist()]
        return [[self.tags[k] for k in torch.nonzero(row).flatten().tolist()] for row in self.on]

    def segments(self, background: bool = False) -> list[dict]:
        """Runs of each tag as ``{"start", "end", "tag"}`` in seconds (end: the next frame's
        start); the background tag is left out unless asked for."""
        step = float(np.median(np.diff(self.times))) if len(self.times) > 1 else 1 / CLIP_FPS
        out, open_at = [], {}
        rows = self.frame_tags() + [[]]
        for t, now in enumerate(rows):
            for tag in [g for g in open_at if g not in now]:
                start = open_at.pop(tag)
                end = self.times[t] if t < len(self.times) else self.times[-1] + step
                if background or tag != self.tags[0]:
                    out.append({"start": round(float(self.times[start]), 3),
                                "end": round(float(end), 3), "tag": tag})
            for tag in now:
                open_at.setdefault(tag, t)
        return sorted(out, key=lambda s: (s["start"], s["tag"]))


@torch.no_grad()
def _tag_pieces(run, pieces, smoothing: float, strip: int) -> Tagging:
    """Run the model over ``(frames (t, S, S, 3), times (t,))`` pieces, carrying the state."""
    model, started = run.model, time.perf_counter()
    device = next(model.parameters()).device
    probs, times, kept, state, seen, stride = [], [], [], None, 0, 1
    for frames, when in pieces:
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2).unsqueeze(0).to(device)
        logits, state = model(clip, torch.tensor([clip.size(1)]), state)
        probs.append(model.probabilities(logits[0]).cpu())
        times.append(when)
        if strip:  # every stride-th frame, copied (a view would keep the whole piece alive)
            kept += [frames[i].copy() for i in range(-seen % stride, len(frames), stride)]
            while len(kept) > 4 * strip:  # a long video: keep half, sample half as often
                kept, stride = kept[::2], stride * 2
        seen += len(frames)
    if not probs:
        raise SeqkitError("the video has no frame to tag")
    probs_all = torch.cat(probs)
    elapsed = time.perf_counter() - started
    on = (smooth_multilabel(probs_all, smoothing) if model.multilabel
          else smooth_labels(probs_all, smoothing))
    pick = np.linspace(0, len(kept) - 1, min(strip, len(kept))).round().astype(int)
    return Tagging(probs_all, on, np.concatenate(times), list(run.assets.tags),
                   seen / max(elapsed, 1e-9), [kept[i] for i in pick] if strip else [])


def tag_video(run, video, smoothing: float | None = None, chunk: int = 256,
              strip: int = 0) -> Tagging:
    """Tag a video file (or its bytes) or a frame folder. A unidirectional model streams it
    ``chunk`` frames at a time; a bidirectional one reads it whole. ``strip``: how many
    sampled frames to keep for display."""
    config = run.config
    smoothing = config.smoothing if smoothing is None else smoothing
    limits = Limits.of(config)
    if not isinstance(video, (bytes, bytearray)) and Path(video).is_dir():
        frames = read_frames(frame_files(video), config.frame_size, limits)
        pieces = iter([(frames, np.arange(len(frames)) / CLIP_FPS)])
    else:
        size = None if run.model.bidirectional else chunk
        pieces = ((f, t) for f, _, t in iter_frames(video, config.frame_size, config.fps,
                                                     limits, chunk=size or limits.max_frames))
    return _tag_pieces(run, pieces, smoothing, strip)


def tag_frames(run, frames: np.ndarray, smoothing: float | None = None, strip: int = 0,
               fps: float = CLIP_FPS) -> Tagging:
    """Tag decoded frames ``(T, S, S, 3)`` uint8 (already at the model's frame size)."""
    smoothing = run.config.smoothing if smoothing is None else smoothing
    return _tag_pieces(run, iter([(frames, np.arange(len(frames)) / fps)]), smoothing, strip)


def builtin_clip(run, index: int, split: str = "test") -> tuple[np.ndarray, list[list[str]]]:
    """A built-in clip's frames at the run's frame size, and its true tags per frame."""
    clip = make_clip(run.config.clips, split, index)
    return clip.render(run.config.frame_size), clip.tags


@dataclass
class PredictOptions:
    """Options of ``seqkit predict`` for the video task."""

    video: str = ""  # a video file or frame folder to tag
    clip: int = -1  # or the number of a built-in test clip (-1: none)
    smoothing: float = -1.0  # Viterbi switch penalty in nats (-1: the run's own setting)
    # average over the frames and their mirror image: on, off, or run (the run's own setting)
    mirror: Literal["run", "on", "off"] = "run"


def predict(run, options: PredictOptions) -> str:
    """One line per segment (``start end tag``, seconds), then a JSON line with the
    ``segments`` and ``frames_per_s``."""
    smoothing = None if options.smoothing < 0 else options.smoothing
    if options.mirror != "run":
        run.model.mirror = options.mirror == "on"
    if options.video:
        tagging = tag_video(run, options.video, smoothing)
    elif options.clip >= 0:
        tagging = tag_frames(run, builtin_clip(run, options.clip)[0], smoothing)
    else:
        raise SeqkitError("give --video FILE (or a frame folder), or --clip N for a built-in "
                          "test clip")
    segments = tagging.segments()
    lines = [f"{s['start']:8.2f} {s['end']:8.2f}  {s['tag']}" for s in segments]
    summary = {"segments": segments, "frames": len(tagging.times),
               "frames_per_s": round(tagging.frames_per_s, 1)}
    return "\n".join(lines + [json.dumps(summary)])
