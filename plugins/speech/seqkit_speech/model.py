"""The speech model: front-end -> the core's RNN ``Encoder`` -> a CTC ``StepClassifier``.

Offline, ``forward`` encodes a padded batch at once. A left-to-right model (``bidirectional``
False, normalisation not per utterance) also runs on a stream: ``stream(chunk, state)`` takes
the next samples and returns the logits of the frames they complete, carrying the front-end's
unconsumed input and the RNN's state; the logits it emits over a whole utterance are the
offline ones (a test checks it to 1e-5).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqkit.cells import State
from seqkit.encoder import Encoder, Memory, lengths_to_mask
from seqkit.errors import SeqkitError
from seqkit.heads import StepClassifier
from seqkit_speech.config import SpeechConfig
from seqkit_speech.frontend import FrontendCache, SpeechFrontend
from seqkit_speech.recurrence import run_padded


@dataclass
class StreamState:
    """What ``SpeechModel.stream`` carries between chunks; every tensor is batch-first."""

    frontend: FrontendCache | None = None  # unconsumed samples and conv inputs
    rnn: State | None = None  # the recurrent state after the last emitted frame
    frames: int = 0  # encoder frames emitted so far


class SpeechModel(nn.Module):
    """``(wave (B, N), lengths (B,))`` -> ``(logits (B, S, C), mask (B, S))``."""

    def __init__(self, config: SpeechConfig, num_classes: int,
                 stats: tuple[list, list] | None = None):
        super().__init__()
        frontend = SpeechFrontend(config, stats)
        self.encoder = Encoder(frontend, frontend.output_size, config.cell, config.hidden_size,
                               config.num_layers, config.dropout, config.bidirectional)
        # frame-local evidence beside the RNN's: lets CTC find where the words are early
        self.shortcut = (nn.Linear(frontend.output_size, self.encoder.output_size)
                         if config.shortcut else None)
        self.head = StepClassifier(self.encoder.output_size, num_classes, config.dropout)
        self.sample_rate = config.sample_rate
        self.can_stream = not config.bidirectional and config.streamable_normalization()
        self.frame_seconds = frontend.logmel.hop * config.subsample / config.sample_rate

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None):
        """Per-frame CTC logits ``(B, S, C)`` of a padded batch ``wave (B, N)``, and the mask
        ``(B, S)`` of its real frames. The encoder's RNN runs unpacked (``run_padded``): the
        packed path costs the square of the length on CPU."""
        local, frames = self.encoder.frontend(wave, lengths)
        features = (run_padded(self.encoder.rnn.rnn, local, frames)
                    if self.encoder.rnn is not None else local)
        mask = lengths_to_mask(frames, *features.shape[:2], features.device)
        return self.head(Memory(self._join(features, local), mask)), mask

    def _join(self, features: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """The RNN's outputs ``(B, S, H)`` plus the shortcut from the front-end's ``(B, S, F)``."""
        return features if self.shortcut is None else features + self.shortcut(local)

    def stream(self, chunk: torch.Tensor, state: StreamState | None = None):
        """The logits ``(B, s, C)`` of the frames that ``chunk (B, n)`` completes (``s`` may
        be 0), and the state to pass with the next chunk. Run in eval mode."""
        if not self.can_stream:
            raise SeqkitError("this model cannot stream: it needs bidirectional=False and "
                              "normalize 'auto', 'global' or 'none' (per-utterance normalisation "
                              "and a backward RNN read the whole utterance first)")
        state = state or StreamState()
        features, cache = self.encoder.frontend.stream(chunk, state.frontend)
        batch, steps = features.shape[:2]
        if not steps:
            empty = features.new_zeros(batch, 0, self.head.classify.out_features)
            return empty, StreamState(cache, state.rnn, state.frames)
        outputs, rnn = self.encoder.rnn(features, state.rnn)
        mask = torch.ones(batch, steps, dtype=torch.bool, device=features.device)
        logits = self.head(Memory(self._join(outputs, features), mask, rnn))
        return logits, StreamState(cache, rnn, state.frames + steps)
