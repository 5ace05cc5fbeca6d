"""Reading audio: any file soundfile reads (WAV, FLAC, OGG; 8/16/24-bit integer or float), any
sample rate, mixed to mono and resampled to the model's rate, with a duration limit.

Every failure is a ``SeqkitError`` that names the file as the user knows it and says what to do.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from seqkit.errors import SeqkitError

AudioRef = Union[str, Path, bytes]  # a file path, or the bytes of a file
FORMATS = "WAV, FLAC or OGG"
SILENCE_PEAK = 1e-4  # a peak amplitude below this (full scale = 1) counts as silence


def _describe(audio: AudioRef, name: str | None) -> str:
    if name:
        return name
    return "the audio bytes" if isinstance(audio, bytes) else str(audio)


def _open(audio: AudioRef):
    return io.BytesIO(audio) if isinstance(audio, bytes) else str(audio)


def audio_info(audio: AudioRef, name: str | None = None) -> tuple[int, int]:
    """``(frames, sample_rate)`` from the file's header, without decoding it.

    Fails with a clear message on a missing or empty file, bytes that are not audio, an
    unsupported format, or a file with no samples.
    """
    label = _describe(audio, name)
    if not isinstance(audio, bytes):
        path = Path(audio)
        if not path.is_file():
            raise SeqkitError(f"{label}: no such audio file")
        if path.stat().st_size == 0:
            raise SeqkitError(f"{label} is empty (0 bytes); give a {FORMATS} file")
    elif not audio:
        raise SeqkitError(f"{label} is empty (0 bytes); give a {FORMATS} file")
    try:
        info = sf.info(_open(audio))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise SeqkitError(f"{label} is not an audio file this reader knows ({err}); give a "
                          f"{FORMATS} file") from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise SeqkitError(f"{label} holds no audio samples (0 frames); record something first")
    return int(info.frames), int(info.samplerate)


def to_mono(samples: np.ndarray) -> torch.Tensor:
    """Integer or float samples ``(N,)`` or ``(N, channels)`` -> float32 mono ``(N,)`` in
    [-1, 1] (integers are scaled by their type's full range)."""
    array = np.asarray(samples)
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        middle = (int(info.max) + int(info.min) + 1) / 2
        array = (array.astype(np.float64) - middle) / (int(info.max) - middle + 1)
    wave = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return wave.mean(dim=1) if wave.dim() == 2 else wave


def resample(wave: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """``wave (..., N)`` at ``rate`` Hz -> the same sound at ``target`` Hz."""
    return wave if rate == target else AF.resample(wave, rate, target)


def limit_duration(frames: int, rate: int, max_seconds: float, too_long: str,
                   label: str) -> int:
    """How many frames to read: all, or ``max_seconds`` worth with a warning (``too_long`` =
    "cut"); over the limit with "error" it raises."""
    limit = int(max_seconds * rate)
    if max_seconds <= 0 or frames <= limit:
        return frames
    seconds = frames / rate
    if too_long == "cut":
        warnings.warn(f"{label} lasts {seconds:.1f} s; only its first {max_seconds:g} s are used",
                      stacklevel=3)
        return limit
    raise SeqkitError(f"{label} lasts {seconds:.1f} s, over the limit of {max_seconds:g} s; cut "
                      "it, or raise --max-seconds (or set --too-long cut)")


def read_audio(audio: AudioRef, sample_rate: int, max_seconds: float = 0.0,
               too_long: str = "error", name: str | None = None) -> torch.Tensor:
    """Decode a file (or its bytes) into a float32 mono waveform ``(N,)`` at ``sample_rate``."""
    label = _describe(audio, name)
    frames, rate = audio_info(audio, name)
    keep = limit_duration(frames, rate, max_seconds, too_long, label)
    try:
        samples, _ = sf.read(_open(audio), frames=keep, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise SeqkitError(f"{label} is damaged or truncated ({err})") from err
    if samples.shape[0] == 0:
        raise SeqkitError(f"{label} holds no audio samples; record something first")
    wave = to_mono(samples)
    if not torch.isfinite(wave).all():
        raise SeqkitError(f"{label} holds NaN or infinite samples; it is damaged")
    return resample(wave, rate, sample_rate)


def from_array(samples: np.ndarray, rate: int, sample_rate: int, max_seconds: float = 0.0,
               too_long: str = "error", name: str = "the recording") -> torch.Tensor:
    """A waveform given as an array (a microphone's ``(rate, samples)``) -> float32 mono
    ``(N,)`` at ``sample_rate``, under the same checks as a file."""
    array = np.asarray(samples)
    if array.size == 0 or rate <= 0:
        raise SeqkitError(f"{name} holds no audio samples; record something first")
    keep = limit_duration(array.shape[0], rate, max_seconds, too_long, name)
    wave = to_mono(array[:keep])
    if not torch.isfinite(wave).all():
        raise SeqkitError(f"{name} holds NaN or infinite samples")
    return resample(wave, rate, sample_rate)


def check_not_silent(wave: torch.Tensor, name: str) -> None:
    """Refuse a waveform whose peak is below ``SILENCE_PEAK``: nothing to recognise."""
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    if peak < SILENCE_PEAK:
        raise SeqkitError(f"{name} is silent (peak amplitude {peak:.1e}); check the microphone "
                          "or the file")

