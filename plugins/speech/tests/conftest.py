"""Shared fixtures of the speech plugin's tests: tiny configs, audio files, a trained run."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from seqkit.data import Source
from seqkit.jobs import train
from seqkit_speech import SpeechConfig, SynthConfig, task

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"  # ../shared/data


def make_tiny_config(synth: dict | None = None, train_cfg: dict | None = None, **fields):
    """A small model on a small built-in set; sizes are odd where a swap would go unnoticed."""
    base = SpeechConfig(n_mels=13, conv_channels=5, frontend_size=9, hidden_size=11,
                        num_layers=1, dropout=0.0,
                        synth=SynthConfig(train_utterances=23, valid_utterances=7,
                                          test_utterances=5, max_digits=2))
    base = dataclasses.replace(base, synth=dataclasses.replace(base.synth, **(synth or {})))
    settings = {"batch_size": 7, "epochs": 1, "threads": 1, "log_every": 5, "warmup_steps": 0}
    trained = dataclasses.replace(base.train, **{**settings, **(train_cfg or {})})
    return dataclasses.replace(base, train=trained, **fields)


def learning_config(**fields):
    """Single digits of the built-in voices, word units, a left-to-right model that streams:
    learns to name the digit in well under a minute of one core."""
    return make_tiny_config(
        synth={"train_utterances": 400, "valid_utterances": 41, "test_utterances": 43,
               "min_digits": 1, "max_digits": 1, "word_fraction": 0.0, "noise": 0.003},
        train_cfg={"batch_size": 16, "epochs": 10, "lr": 5e-3, "warmup_steps": 20},
        n_mels=24, conv_channels=8, frontend_size=48, hidden_size=64, tokens="word", subsample=4,
        bidirectional=False, normalize="global", freq_masks=1, time_masks=1,
        **fields)



@pytest.fixture
def tiny_config():
    """The ``make_tiny_config`` factory (fixtures, since tests cannot import conftest)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def digit_run(tmp_path_factory):
    """A small left-to-right recogniser trained on built-in single digits:
    ``(run dir, metrics)``."""
    out = tmp_path_factory.mktemp("speech") / "run"
    threads = torch.get_num_threads()
    try:
        metrics = train(task, learning_config(), Source("builtin"), out, quiet=True)
    finally:
        torch.set_num_threads(threads)
    return out, metrics


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (a fresh clone has none)")
    return SHARED_DATA


def tone(seconds: float = 0.5, rate: int = 8000, freq: float = 440.0,
         channels: int = 1) -> np.ndarray:
    """A sine tone ``(N,)`` (or ``(N, channels)``, each channel louder) in float32."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if channels == 1:
        return wave
    return np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1)


def write_audio(path: Path, seconds: float = 0.5, rate: int = 8000, subtype: str | None = None,
                channels: int = 1, freq: float = 440.0) -> Path:
    """Write a tone as WAV/FLAC/OGG by suffix (``subtype`` e.g. PCM_24, FLOAT)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, rate, freq, channels), rate, subtype=subtype)
    return path


@pytest.fixture
def save_audio():
    """The ``write_audio`` helper."""
    return write_audio
