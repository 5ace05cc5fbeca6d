"""The speech task's config. Defaults train a digit recogniser on the built-in eSpeak data in a
few CPU minutes; the same model reaches FSDD's benchmark with ``--data ../shared/data/fsdd``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import TrainConfig
from seqkit.config import added, bounded
from seqkit.errors import SeqkitError

WORD_UNITS_MAX = 50  # tokens=auto: word units up to this many distinct training words
PER_UTTERANCE = ("mean", "utterance")  # normalisations that read the whole utterance first
WITH_STATS = ("global", "mean")  # normalisations that use the training set's statistics


@dataclass
class SynthConfig:
    """The built-in data: utterances synthesised with eSpeak NG, deterministic by seed."""

    train_utterances: int = 3000  # utterances in the training split
    valid_utterances: int = 200  # utterances in the validation split
    test_utterances: int = 200  # utterances in the test split
    min_digits: int = 1  # shortest digit string (words from the word list count as one)
    max_digits: int = 4  # longest digit string
    word_fraction: float = 0.2  # share of utterances that say a word of the small word list
    rate: tuple[int, int] = (120, 220)  # range of speaking rates, words per minute
    pitch: tuple[int, int] = (25, 75)  # range of base pitches (eSpeak's 0-99 scale)
    noise: float = 0.01  # largest standard deviation of added white noise (full scale = 1)
    seed: int = 0  # seed of the generator; valid and test draw from their own streams


@dataclass
class SpeechConfig:
    """Log-mel front-end, conv subsampling, an RNN encoder and a CTC head over characters."""

    sample_rate: int = 8000  # the model's rate; every input is resampled to it
    n_mels: int = 40  # mel bands of the log-mel features
    win_ms: float = 25.0  # analysis window (FFT size) in milliseconds
    hop_ms: float = 10.0  # hop between feature frames in milliseconds
    # per mel band: global: the training data's mean and spread, saved with the run (streams
    # exactly); mean: subtract each utterance's own mean, divide by the training data's spread
    # (offline only; removes what a microphone or a voice adds to every frame); utterance:
    # each utterance's own mean and variance (offline only); none: raw log-mel; auto: mean
    # for a bidirectional model, global for a left-to-right one (so it streams). Which is
    # better depends on whose voices are recognised (docs/tasks/speech.md): global when they
    # are the voices trained on (yesno WER 0.42 % against 0.83-1.25 % for mean, which also
    # fails two of five folds of yesno's training half; FSDD's official split 100 % against
    # 98.8 % validation), mean for voices training never heard (FSDD, a fourth speaker:
    # 73.6 % against 39.4 %). global stays the default
    normalize: Literal["auto", "utterance", "mean", "global", "none"] = "global"
    # with a per-utterance normalisation (mean, utterance): raise every log-mel value to at
    # least the utterance's loudest less this many dB first (0: off), so that the pauses of a
    # clean recording and of a noisy one look alike
    floor_db: float = bounded(0.0, ">= 0")
    conv_channels: int = 32  # channels of the convolutional subsampling stage
    conv_layers: int = 2  # causal 3x3 conv layers over (time, mel)
    subsample: int = 4  # time reduction of the conv stage: 1, 2 or 4 (stride-2 layers)
    frontend_size: int = 128  # the conv stage's output is projected to this width
    cell: Literal["rnn", "gru", "lstm"] = "lstm"  # recurrent cell of the encoder
    hidden_size: int = 128  # units per direction
    num_layers: int = 2  # stacked recurrent layers
    bidirectional: bool = True  # False: a left-to-right model that can stream
    dropout: float = 0.1  # between recurrent layers and before the CTC head
    # add a linear map of the front-end's features to the RNN's outputs before the CTC head:
    # frame-local evidence that lets CTC leave its blank-only plateau sooner
    shortcut: bool = True
    # the CTC output units: char (any text, an open vocabulary), word (a closed vocabulary:
    # digits, commands; a word unheard in training cannot be recognised), or auto: word when
    # the training transcripts use at most WORD_UNITS_MAX distinct words, char otherwise
    tokens: Literal["auto", "char", "word"] = "auto"
    lowercase: bool = True  # lowercase transcripts before tokenising
    # characters outside the token set in a transcript: error (name the file), drop, or unk
    oov: Literal["error", "drop", "unk"] = "error"
    freq_masks: int = 1  # SpecAugment frequency masks per training utterance
    freq_mask_width: int = 8  # widest frequency mask, in mel bands
    time_masks: int = 1  # SpecAugment time masks per training utterance
    time_mask_width: int = 10  # widest time mask, in frames
    speed: tuple[float, ...] = (0.9, 1.0, 1.1)  # speed perturbation factors drawn in training
    # (low, high) dB: white noise added to every training clip at a signal-to-noise ratio drawn
    # from this range (empty: none), so that recordings with other noise floors look familiar
    # (FSDD's official split, two seeds: 99.6 / 99.2 % against 98.8 / 98.8 % without)
    noise_snr: tuple[float, ...] = added((10.0, 40.0), before=())
    # more training clips: this many of the training transcripts said by eSpeak NG voices
    # drawn as for the built-in data (synth.*: voice, rate, pitch, noise), so that training
    # hears more voices than the data's few speakers (0: none)
    voices: int = bounded(0, ">= 0")
    beam: int = 1  # CTC beam width when evaluating and predicting (1: greedy)
    max_seconds: float = 30.0  # longest input accepted
    too_long: Literal["error", "cut"] = "error"  # longer input: an error, or cut with a warning
    valid_fraction: float = 0.1  # training files held out for validation when the data has none
    holdout_speakers: tuple[str, ...] = ()  # FSDD: test on these speakers, train on the rest
    # FSDD: validate on these speakers (voices training never hears, to choose weights and
    # settings for new voices) instead of on the first takes of every training speaker
    valid_speakers: tuple[str, ...] = ()
    synth: SynthConfig = field(default_factory=SynthConfig)  # the built-in data
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=16, optimizer="adamw", lr=5e-3, weight_decay=1e-2, clip=5.0,
        schedule="cosine", warmup_steps=50, epochs=30, log_every=25))  # see seqkit.TrainConfig

    def check(self) -> None:
        """Rules that span values: the noise range is empty or (low, high); a floor needs a
        per-utterance normalisation."""
        if self.noise_snr and (len(self.noise_snr) != 2 or self.noise_snr[0] > self.noise_snr[1]):
            raise SeqkitError(f"noise_snr is (low, high) in dB with low <= high, or empty for "
                              f"no noise; got {list(self.noise_snr)}")
        if self.floor_db and self.normalization() not in PER_UTTERANCE:
            raise SeqkitError(f"floor_db reads the whole utterance, so it needs a per-utterance "
                              f"normalize (mean or utterance), not {self.normalization()}")

    def normalization(self) -> str:
        """The normalisation the model uses: ``normalize`` with ``auto`` resolved."""
        if self.normalize != "auto":
            return self.normalize
        return "mean" if self.bidirectional else "global"

    def needs_stats(self) -> bool:
        """Whether the normalisation uses the training set's statistics (saved with the run)."""
        return self.normalization() in WITH_STATS

    def streamable_normalization(self) -> bool:
        """Whether the normalisation reads only the frames so far (not a whole utterance)."""
        return self.normalization() not in PER_UTTERANCE
