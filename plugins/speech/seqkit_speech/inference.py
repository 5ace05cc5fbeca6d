"""Recognising speech with a trained run: whole files, or a stream of chunks.

::

    import seqkit
    from seqkit_speech import transcribe, Recognizer
    run = seqkit.load("runs/speech")
    print(transcribe(run, "three.wav").text)

    recognizer = Recognizer(run)            # a left-to-right model streams exactly
    for samples in microphone_chunks():     # float or int16 arrays at any rate
        print(recognizer.feed(samples, 16000))   # the partial transcript so far
    print(recognizer.finish())
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from seqkit.errors import SeqkitError
from seqkit.rundir import Run
from seqkit_speech.audio import AudioRef, check_not_silent, from_array, read_audio
from seqkit_speech.model import StreamState
from seqkit_speech.recognize import Emission, alignment, decode, to_text


@dataclass
class PredictOptions:
    """Options of ``seqkit predict RUN`` for speech."""

    audio: str = ""  # the audio file to transcribe (WAV, FLAC, OGG)
    beam: int = 0  # CTC beam width (1: greedy; 0: the run's setting)
    chunk_ms: float = 0.0  # > 0: recognise as a stream of chunks this long (left-to-right runs)


@dataclass
class Transcript:
    """What recognising one utterance gives."""

    text: str  # the transcript
    logits: torch.Tensor  # (S, C) per-frame CTC logits
    features: torch.Tensor  # (T, n_mels) log-mel frames of the input
    emissions: list[Emission] = field(default_factory=list)  # which frames emitted what
    seconds: float = 0.0  # duration of the audio
    timings: dict = field(default_factory=dict)  # seconds spent per stage


def _device(run: Run) -> torch.device:
    return next(run.model.parameters()).device


def load_input(run: Run, audio: AudioRef | tuple[int, np.ndarray], name: str | None = None):
    """A file, its bytes, or ``(rate, samples)`` -> waveform ``(N,)`` at the run's rate,
    refusing silence."""
    config = run.config
    if isinstance(audio, tuple):
        rate, samples = audio
        wave = from_array(samples, rate, config.sample_rate, config.max_seconds, config.too_long,
                          name or "the recording")
    else:
        wave = read_audio(audio, config.sample_rate, config.max_seconds, config.too_long, name)
    check_not_silent(wave, name or (str(audio) if not isinstance(audio, tuple) else "the recording"))
    return wave


@torch.no_grad()
def transcribe(run: Run, audio, beam: int | None = None, name: str | None = None) -> Transcript:
    """Recognise one utterance offline: a path, file bytes, or ``(rate, samples)``."""
    beam = run.config.beam if not beam else beam
    started = time.perf_counter()
    wave = load_input(run, audio, name)
    seconds = wave.numel() / run.config.sample_rate
    loaded = time.perf_counter()
    model = run.model.eval()
    batch = wave.unsqueeze(0).to(_device(run))
    logits, mask = model(batch)
    ids = decode(logits, mask.sum(1), beam)[0]
    done = time.perf_counter()
    frontend = model.encoder.frontend
    feats = frontend.logmel(torch.nn.functional.pad(
        batch, (0, max(0, frontend.min_samples - batch.shape[1]))))[0].cpu()
    timings = {"load_s": loaded - started, "recognise_s": done - loaded,
               "rtf": (done - loaded) / max(seconds, 1e-9)}
    return Transcript(to_text(ids, run.assets.tokenizer), logits[0].cpu(), feats,
                      alignment(logits[0], run.assets.tokenizer, model.frame_seconds), seconds,
                      timings)


class Recognizer:
    """Streaming recognition with a left-to-right run: ``feed`` chunks, read the partial
    transcript, ``finish`` at the end. The logits equal the offline ones for the same audio
    at the model's rate (chunks at another rate are resampled one by one, which differs from
    resampling the whole at the chunk edges)."""

    def __init__(self, run: Run):
        if not run.model.can_stream:
            raise SeqkitError("this run cannot stream: train it with --no-bidirectional "
                              "(and --normalize auto, the default, or global)")
        self.run, self.state = run, StreamState()
        self.logits: list[torch.Tensor] = []
        self.samples = 0
        self.latencies: list[float] = []  # seconds to process each chunk

    @torch.no_grad()
    def feed(self, samples, rate: int) -> str:
        """Add a chunk (array at ``rate`` Hz, or a waveform tensor at the run's rate when
        ``rate`` is the run's) and return the transcript so far."""
        started = time.perf_counter()
        config = self.run.config
        wave = (samples if isinstance(samples, torch.Tensor) and rate == config.sample_rate
                else from_array(np.asarray(samples), rate, config.sample_rate))
        self.samples += wave.numel()
        if self.samples > config.max_seconds * config.sample_rate > 0:
            raise SeqkitError(f"the stream is over the limit of {config.max_seconds:g} s; "
                              "start a new one")
        model = self.run.model.eval()
        logits, self.state = model.stream(wave.unsqueeze(0).to(_device(self.run)), self.state)
        self.logits.append(logits[0].cpu())
        text = self.text()
        self.latencies.append(time.perf_counter() - started)
        return text

    def all_logits(self) -> torch.Tensor:
        """``(S, C)``: every frame's logits so far."""
        return torch.cat(self.logits) if self.logits else torch.zeros(0, 1)

    def text(self) -> str:
        """The greedy transcript of the frames so far."""
        logits = self.all_logits()
        if not logits.shape[0]:
            return ""
        ids = decode(logits.unsqueeze(0), torch.tensor([logits.shape[0]]), 1)[0]
        return to_text(ids, self.run.assets.tokenizer)

    def finish(self) -> str:
        """The final transcript (the run's beam), and the stream is ready to start again."""
        logits = self.all_logits()
        text = ""
        if logits.shape[0]:
            ids = decode(logits.unsqueeze(0), torch.tensor([logits.shape[0]]),
                         self.run.config.beam)[0]
            text = to_text(ids, self.run.assets.tokenizer)
        self.state, self.logits, self.samples = StreamState(), [], 0
        return text


def stream_file(run: Run, path: str, chunk_ms: float) -> tuple[str, list[float]]:
    """Recognise a file as a stream of ``chunk_ms`` chunks; the text and each chunk's latency."""
    wave = load_input(run, path)
    size = max(1, round(run.config.sample_rate * chunk_ms / 1000))
    recognizer = Recognizer(run)
    for start in range(0, wave.numel(), size):
        recognizer.feed(wave[start: start + size], run.config.sample_rate)
    latencies = recognizer.latencies
    return recognizer.finish(), latencies


def predict(run: Run, options: PredictOptions) -> str:
    """``seqkit predict RUN --audio FILE``: the transcript, then a JSON line with the text and
    the timings (``--chunk-ms N`` streams, and reports the latency per chunk)."""
    if not options.audio:
        raise SeqkitError("give the audio to transcribe: --audio FILE")
    if options.beam < 0:
        raise SeqkitError(f"the beam must be 0 (the run's), 1 (greedy) or more, not {options.beam}")
    if options.chunk_ms > 0:
        started = time.perf_counter()
        text, latencies = stream_file(run, options.audio, options.chunk_ms)
        info = {"text": text, "chunks": len(latencies), "chunk_ms": options.chunk_ms,
                "mean_chunk_latency_ms": 1000 * sum(latencies) / max(len(latencies), 1),
                "max_chunk_latency_ms": 1000 * max(latencies, default=0.0),
                "total_s": time.perf_counter() - started}
    else:
        result = transcribe(run, options.audio, options.beam)
        text = result.text
        info = {"text": text, "audio_s": result.seconds, **result.timings}
    info = {k: round(v, 5) if isinstance(v, float) else v for k, v in info.items()}
    return f"{text}\n{json.dumps(info)}"
