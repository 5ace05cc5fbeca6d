"""Shared fixtures of the video plugin's tests: tiny configs, a tiny trained run, video files."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from seqkit.data import Source
from seqkit.jobs import train
from seqkit_video import ClipConfig, VideoConfig, make_clip, task, write_video

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"  # ../shared/data


def make_tiny_config(clips: dict | None = None, train_cfg: dict | None = None, **fields):
    """A tiny tagger on a few short clips; odd sizes, so that a swapped dimension fails."""
    clip = ClipConfig(train_clips=13, valid_clips=5, test_clips=3, min_frames=9, max_frames=17)
    base = VideoConfig(frame_size=24, feature_size=12, hidden_size=10, dropout=0.0,
                       clips=dataclasses.replace(clip, **(clips or {})))
    settings = {"batch_size": 3, "epochs": 1, "threads": 1, "log_every": 5, "warmup_steps": 0,
                "bptt": 5}
    trained = dataclasses.replace(base.train, **{**settings, **(train_cfg or {})})
    return dataclasses.replace(base, train=trained, **fields)



@pytest.fixture
def tiny_config():
    """The ``make_tiny_config`` factory (fixtures, since tests cannot import conftest)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny tagger trained for a few steps (its accuracy does not matter)."""
    out = tmp_path_factory.mktemp("runs") / "video"
    threads = torch.get_num_threads()
    try:
        train(task, make_tiny_config(train_cfg={"max_steps": 3}), Source("builtin"), out,
              quiet=True)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def clip_video(tmp_path) -> tuple[Path, int]:
    """A built-in clip written as an H.264 mp4 with PyAV: (path, frame count)."""
    frames = make_clip(ClipConfig(), "test", 0).render(32)
    return write_video(tmp_path / "clip.mp4", frames, fps=25), len(frames)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped where it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA
