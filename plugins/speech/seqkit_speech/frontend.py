"""The speech front-end: waveform -> log-mel -> normalisation -> SpecAugment -> causal conv
subsampling -> projection, ``(B, N) -> (B, S, F)``.

Every stage is causal in time so that the model can also run on a stream of chunks and give
exactly its offline output: the mel frames are not centred (frame ``i`` reads samples
``[i*hop, i*hop + n_fft)``), and each conv layer pads only on the left, by ``kernel - stride``
frames, so that output ``t`` reads no input past its own stride block. Streaming keeps, per
stage, the input it has not yet consumed (``FrontendCache``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torchaudio
from torch import nn

from seqkit.encoder import lengths_to_mask
from seqkit_speech.config import PER_UTTERANCE

KERNEL = 3  # time (and mel) size of the conv kernels
LOG_FLOOR = 1e-6  # added to the mel power before the log


def frame_sizes(sample_rate: int, win_ms: float, hop_ms: float) -> tuple[int, int]:
    """``(n_fft, hop)`` in samples for a window and hop in milliseconds."""
    return round(sample_rate * win_ms / 1000), max(1, round(sample_rate * hop_ms / 1000))


class LogMel(nn.Module):
    """``wave (B, N)`` -> log-mel ``(B, T, n_mels)``, ``T = (N - n_fft) // hop + 1``."""

    def __init__(self, sample_rate: int, n_mels: int, win_ms: float, hop_ms: float):
        super().__init__()
        self.n_fft, self.hop = frame_sizes(sample_rate, win_ms, hop_ms)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=self.n_fft, hop_length=self.hop, n_mels=n_mels, center=False,
            power=2.0)
        # the window and filter bank follow from the config: rebuilt, never saved as weights
        spectrogram, scale = self.mel.spectrogram, self.mel.mel_scale
        spectrogram.register_buffer("window", spectrogram.window.clone(), persistent=False)
        scale.register_buffer("fb", scale.fb.clone(), persistent=False)

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        """Number of whole frames in ``samples`` (a tensor of counts)."""
        return torch.div(samples - self.n_fft, self.hop, rounding_mode="floor").add(1).clamp(min=0)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel frames of ``wave (B, N)`` (N >= n_fft)."""
        return torch.log(self.mel(wave.float()) + LOG_FLOOR).transpose(1, 2)


class Normalize(nn.Module):
    """Per-band normalisation of ``(B, T, M)`` features: ``mean`` (each utterance's own masked
    mean, the training set's spread), ``utterance`` (its own mean and variance), ``global``
    (the training set's mean and spread), or ``none``. ``floor_db`` > 0 (per-utterance modes):
    first raise every value to at least the utterance's peak less that many dB."""

    def __init__(self, mode: str, n_mels: int, stats: tuple[list, list] | None = None,
                 floor_db: float = 0.0):
        super().__init__()
        self.mode, self.floor = mode, floor_db * math.log(10) / 10  # dB -> natural log units
        mean, std = stats if stats else ([0.0] * n_mels, [1.0] * n_mels)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``feats (B, T, M)``, ``mask (B, T)`` -> normalised ``(B, T, M)``."""
        if self.mode == "global":
            return (feats - self.mean) / self.std
        if self.mode not in PER_UTTERANCE:
            return feats
        if self.floor:  # silence at the same depth below the speech, whatever the noise
            peak = feats.masked_fill(~mask.unsqueeze(-1), -math.inf).amax((1, 2), keepdim=True)
            feats = torch.maximum(feats, peak - self.floor)
        weight = mask.unsqueeze(-1).float()
        count = weight.sum(1, keepdim=True).clamp(min=1)
        mean = (feats * weight).sum(1, keepdim=True) / count
        if self.mode == "mean":
            return (feats - mean) / self.std
        var = ((feats - mean) ** 2 * weight).sum(1, keepdim=True) / count
        return (feats - mean) / (var + 1e-5).sqrt()


class SpecAugment(nn.Module):
    """Frequency and time masks on ``(B, T, M)`` features, in training only (each row its own
    masks), through torchaudio's ``FrequencyMasking`` / ``TimeMasking``."""

    def __init__(self, freq_masks: int, freq_width: int, time_masks: int, time_width: int):
        super().__init__()
        freq = [torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
                for _ in range(freq_masks if freq_width else 0)]
        time = [torchaudio.transforms.TimeMasking(time_width, iid_masks=True, p=0.2)
                for _ in range(time_masks if time_width else 0)]
        self.masks = nn.ModuleList(freq + time)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if not self.training or not len(self.masks):
            return feats
        spec = feats.transpose(1, 2).unsqueeze(1)  # (B, 1, M, T), as torchaudio wants
        for mask in self.masks:
            spec = mask(spec)
        return spec.squeeze(1).transpose(1, 2)


class CausalConv(nn.Module):
    """One conv layer over ``(B, C, T, M)``: left padding in time, stride ``stride`` in time
    and 2 in mel; output length ``T // stride``; output ``t`` reads inputs up to
    ``t*stride + stride - 1``."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.stride, self.context = stride, KERNEL - stride
        self.conv = nn.Conv2d(channels_in, channels_out, KERNEL, stride=(stride, 2),
                              padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Offline: the whole ``(B, C, T, M)`` input, zeros before its start."""
        return torch.relu(self.conv(nn.functional.pad(x, (0, 0, self.context, 0))))

    def stream(self, x: torch.Tensor, pending: torch.Tensor | None):
        """Streaming: ``pending`` is the unconsumed input (None at the start: the zeros of the
        left padding). Returns the new outputs and the new pending input."""
        if pending is None:
            pending = x.new_zeros(x.shape[0], x.shape[1], self.context, x.shape[3])
        buffer = torch.cat([pending, x], dim=2)
        count = (buffer.shape[2] - KERNEL) // self.stride + 1 if buffer.shape[2] >= KERNEL else 0
        out = torch.relu(self.conv(buffer[:, :, :(count - 1) * self.stride + KERNEL])) \
            if count else buffer.new_zeros(x.shape[0], self.conv.out_channels, 0,
                                           (x.shape[3] + 1) // 2)
        return out, buffer[:, :, count * self.stride:]


@dataclass
class FrontendCache:
    """What a streaming front-end carries from one chunk to the next (batch-first)."""

    samples: torch.Tensor  # (B, n) samples not yet framed
    conv: list = field(default_factory=list)  # per conv layer: (B, C, t, M) unconsumed input


class SpeechFrontend(nn.Module):
    """``(wave (B, N), lengths (B,))`` -> ``(features (B, S, F), lengths (B,))``."""

    def __init__(self, config, stats: tuple[list, list] | None = None):
        super().__init__()
        self.logmel = LogMel(config.sample_rate, config.n_mels, config.win_ms, config.hop_ms)
        self.normalize = Normalize(config.normalization(), config.n_mels, stats, config.floor_db)
        self.augment = SpecAugment(config.freq_masks, config.freq_mask_width, config.time_masks,
                                   config.time_mask_width)
        strides = int(math.log2(config.subsample))
        if 2 ** strides != config.subsample or strides > config.conv_layers:
            raise ValueError(f"subsample must be a power of two up to 2**conv_layers, "
                             f"not {config.subsample}")
        layers, channels, bands = [], 1, config.n_mels
        for i in range(config.conv_layers):
            layers.append(CausalConv(channels, config.conv_channels, 2 if i < strides else 1))
            channels, bands = config.conv_channels, (bands + 1) // 2
        self.convs = nn.ModuleList(layers)
        self.project = nn.Sequential(nn.Linear(channels * bands, config.frontend_size),
                                     nn.LayerNorm(config.frontend_size))
        self.min_samples = self.logmel.n_fft  # shorter input is padded with silence
        self.output_size = config.frontend_size

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, S, M)`` conv output -> ``(B, S, F)``."""
        return self.project(x.transpose(1, 2).flatten(2))

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None):
        """Offline: the whole padded batch at once."""
        if lengths is None:
            lengths = torch.full((wave.shape[0],), wave.shape[1], device=wave.device)
        if wave.shape[1] < self.min_samples:
            wave = nn.functional.pad(wave, (0, self.min_samples - wave.shape[1]))
        feats = self.logmel(wave)  # (B, T, M)
        frames = self.logmel.frames(lengths.clamp(min=self.min_samples))
        feats = self.augment(self.normalize(feats, lengths_to_mask(frames, *feats.shape[:2],
                                                                   feats.device)))
        x = feats.unsqueeze(1)  # (B, 1, T, M)
        for conv in self.convs:
            x, frames = conv(x), torch.div(frames, conv.stride, rounding_mode="floor")
        return self._features(x), frames

    def stream(self, chunk: torch.Tensor, cache: FrontendCache | None):
        """Streaming: ``chunk (B, n)`` of new samples -> ``(features (B, s, F), cache)``;
        ``s`` may be 0 while a frame or a stride block is incomplete."""
        samples = chunk if cache is None else torch.cat([cache.samples, chunk.to(cache.samples)], 1)
        pending = cache.conv if cache is not None else [None] * len(self.convs)
        count = max(0, (samples.shape[1] - self.logmel.n_fft) // self.logmel.hop + 1)
        if count:
            used = (count - 1) * self.logmel.hop + self.logmel.n_fft
            feats = self.logmel(samples[:, :used])
        else:
            feats = samples.new_zeros(samples.shape[0], 0, self.normalize.mean.numel())
        feats = self.normalize(feats, torch.ones(feats.shape[:2], dtype=torch.bool,
                                                 device=feats.device))
        x, carried = feats.unsqueeze(1), []
        for conv, before in zip(self.convs, pending):
            x, rest = conv.stream(x, before)
            carried.append(rest)
        return self._features(x), FrontendCache(samples[:, count * self.logmel.hop:], carried)
