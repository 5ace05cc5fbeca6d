"""The speech task's data: transcripts -> CTC targets, clips -> padded waveform batches.

A batch is a dict of batch-first tensors, decoded (and, in training, speed-perturbed) in the
collate function, which the core's ``BucketBatches`` runs in DataLoader workers::

    {"audio": (B, N) float32 at the model's rate, "audio_lengths": (B,),
     "targets": (B, L) token ids, "target_lengths": (B,), "index": (B,) clip numbers}
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqkit.batching import BucketBatches, pad
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.rundir import write_json
from seqkit.task import TaskData
from seqkit.tokenizers import TextTokenizer
from seqkit_speech.audio import read_audio, resample
from seqkit_speech.config import WORD_UNITS_MAX, SpeechConfig
from seqkit_speech.frontend import LogMel
from seqkit_speech.sources import Clip, read_clips, samples_of

STATS_FILE = "features.json"
STATS_CLIPS = 300  # training clips that estimate the global feature statistics


@dataclass
class SpeechAssets:
    """What a speech run learns from its data and keeps beside its weights."""

    tokenizer: TextTokenizer  # the CTC units; id 0 (<pad>) is the CTC blank
    stats: tuple[list, list] | None = None  # per-mel-band mean and std (normalize="global")


@dataclass
class SplitContext:
    """What ``evaluate`` reads about a split, besides its batches."""

    texts: list[str]  # the normalised transcript of each clip
    seconds: list[float] = field(default_factory=list)  # duration of each clip


def normalise_text(text: str, config: SpeechConfig) -> str:
    """Lowercase (if configured) and collapse whitespace."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.lower() if config.lowercase else text


def encode(text: str, clip: Clip, tokenizer: TextTokenizer, config: SpeechConfig) -> list[int]:
    """Token ids of a transcript; symbols outside the token set are an error (naming the
    clip), dropped, or ``<unk>``, as ``config.oov`` says."""
    unknown = tokenizer.unknown(text)
    if unknown and config.oov == "error":
        raise SeqkitError(f"{clip.name}: the transcript {text!r} holds {unknown}, outside the "
                          "token set learnt from the training transcripts; fix it, or set "
                          "--oov drop or --oov unk")
    if unknown and config.oov == "drop":
        if units_of(tokenizer) == "char":
            text = re.sub(" +", " ", "".join(ch for ch in text if ch not in unknown)).strip()
        else:
            text = " ".join(word for word in text.split() if word not in unknown)
    return tokenizer.encode(text)


def load_wave(clip: Clip, config: SpeechConfig) -> torch.Tensor:
    """The clip's waveform ``(N,)`` at the model's rate."""
    memory = samples_of(clip)
    if memory is not None:
        return resample(torch.from_numpy(memory[0]), memory[1], config.sample_rate)
    return read_audio(clip.audio, config.sample_rate, config.max_seconds, config.too_long,
                      clip.name)


def with_noise(wave: torch.Tensor, snr: tuple[float, float], rng: random.Random) -> torch.Tensor:
    """``wave`` plus white noise at a signal-to-noise ratio (dB, against the clip's mean
    power) drawn uniformly from ``snr``."""
    power = wave.pow(2).mean()
    if wave.numel() == 0 or power == 0:
        return wave
    ratio = 10 ** (rng.uniform(*snr) / 10)
    noise = torch.randn(wave.shape, generator=torch.Generator().manual_seed(rng.getrandbits(63)))
    return wave + noise * (power / ratio).sqrt()


class Collate:
    """Lists of ``(index, clip, ids)`` -> batch dicts; in training, each clip at a speed drawn
    from ``config.speed`` and with noise at an SNR drawn from ``config.noise_snr``, from the
    ``rng`` that the core's ``BucketBatches(draws=True)`` gives each batch of each epoch (so
    every epoch draws afresh, and a resumed run draws the same)."""

    def __init__(self, config: SpeechConfig, train: bool):
        self.config, self.train = config, train

    def _perturb(self, wave: torch.Tensor, rng: random.Random) -> torch.Tensor:
        factor = rng.choice(self.config.speed) if self.config.speed else 1.0
        rate = self.config.sample_rate
        wave = wave if factor == 1.0 else resample(wave, round(rate * factor), rate)
        return with_noise(wave, self.config.noise_snr, rng) if self.config.noise_snr else wave

    def __call__(self, examples: list[tuple[int, Clip, list[int]]],
                 rng: random.Random | None = None) -> dict:
        if self.train and rng is None:
            raise ValueError("a training batch draws its speed and noise from the rng that "
                             "BucketBatches(draws=True) gives it")
        waves = [load_wave(clip, self.config) for _, clip, _ in examples]
        if self.train:
            waves = [self._perturb(w, rng) for w in waves]
        lengths = torch.tensor([w.numel() for w in waves])
        audio = torch.zeros(len(waves), int(lengths.max()))
        for row, wave in enumerate(waves):
            audio[row, : wave.numel()] = wave
        targets, target_lengths = pad([ids or [] for _, _, ids in examples])
        return {"audio": audio, "audio_lengths": lengths, "targets": targets,
                "target_lengths": target_lengths,
                "index": torch.tensor([i for i, _, _ in examples])}


def feature_stats(clips: list[Clip], config: SpeechConfig) -> tuple[list, list]:
    """Mean and std of every mel band over (up to ``STATS_CLIPS``) training clips."""
    logmel = LogMel(config.sample_rate, config.n_mels, config.win_ms, config.hop_ms)
    chosen = random.Random(0).sample(clips, min(len(clips), STATS_CLIPS))
    frames = []
    for clip in chosen:
        wave = load_wave(clip, config)
        if wave.numel() >= logmel.n_fft:
            frames.append(logmel(wave.unsqueeze(0))[0])
    if not frames:
        raise SeqkitError("the training clips are too short to estimate feature statistics")
    every = torch.cat(frames)
    return every.mean(0).tolist(), every.std(0).clamp(min=1e-3).tolist()


def choose_units(texts: list[str], tokens: str) -> str:
    """``tokens`` with ``auto`` resolved: word units for a closed vocabulary (at most
    ``WORD_UNITS_MAX`` distinct words in the training transcripts), characters otherwise."""
    if tokens != "auto":
        return tokens
    words = {word for text in texts for word in text.split()}
    return "word" if len(words) <= WORD_UNITS_MAX else "char"


def units_of(tokenizer: TextTokenizer) -> str:
    """``word`` or ``char``: the units a trained (or loaded) tokenizer splits text into."""
    splitter = type(tokenizer.tokenizer.pre_tokenizer).__name__
    return "word" if splitter == "WhitespaceSplit" else "char"


def learn_assets(train: list[Clip], config: SpeechConfig) -> SpeechAssets:
    """The token set of the training transcripts, and feature statistics if needed."""
    texts = [normalise_text(c.text, config) for c in train]
    tokenizer = TextTokenizer.train(texts, choose_units(texts, config.tokens))
    stats = feature_stats(train, config) if config.needs_stats() else None
    return SpeechAssets(tokenizer, stats)


def make_batches(split: str, clips: list[Clip], config: SpeechConfig,
                 assets: SpeechAssets) -> BucketBatches:
    """Length-bucketed batches of one split (shuffled and perturbed in training only).

    Lengths are in feature frames (10 ms by default), so ``--train.batch-tokens`` is a budget
    of frames.
    """
    texts = [normalise_text(c.text, config) for c in clips]
    examples = [(i, clip, encode(text, clip, assets.tokenizer, config))
                for i, (clip, text) in enumerate(zip(clips, texts))]
    frame = config.hop_ms / 1000
    limit = config.max_seconds if config.too_long == "cut" else float("inf")
    context = SplitContext(texts, [min(c.seconds, limit) for c in clips])
    return BucketBatches.from_config(examples, config.train,
                                     lambda e: max(1, round(min(e[1].seconds, limit) / frame)),
                                     Collate(config, split == "train"),
                                     shuffle=split == "train", context=context,
                                     draws=split == "train")


def prepare(config: SpeechConfig, source: Source, assets: SpeechAssets | None) -> TaskData:
    """Read the clips, learn the assets from the training split (unless given), batch."""
    splits = read_clips(config, source)
    if assets is None:
        if "train" not in splits:
            raise SeqkitError(f"{source} has no training clips to learn the token set from")
        assets = learn_assets(splits["train"], config)
    batches = {name: make_batches(name, clips, config, assets) for name, clips in splits.items()}
    return TaskData(assets, batches)


def save_assets(assets: SpeechAssets, folder) -> None:
    """tokenizer.json, and features.json with the feature statistics."""
    assets.tokenizer.save(folder)
    stats = {"mean": assets.stats[0], "std": assets.stats[1]} if assets.stats else None
    write_json(Path(folder) / STATS_FILE, stats)


def load_assets(folder) -> SpeechAssets:
    """Read what ``save_assets`` wrote."""
    path = Path(folder) / STATS_FILE
    if not path.is_file():
        raise SeqkitError(f"{path} is missing: {folder} is not a speech run")
    stats = json.loads(path.read_text())
    return SpeechAssets(TextTokenizer.load(folder),
                        (stats["mean"], stats["std"]) if stats else None)
