"""The video task's config. Defaults train on the built-in clips in a few CPU minutes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import TrainConfig
from seqkit.config import added


@dataclass
class ClipConfig:
    """The built-in data: generated clips of shapes that enter, move, bounce and leave."""

    train_clips: int = 1200  # clips in the training split
    valid_clips: int = 60  # clips in the validation split (compositions seen in training)
    test_clips: int = 120  # clips in the test split (each shows a held-out kind and colour)
    min_frames: int = 48  # shortest clip, in frames
    max_frames: int = 96  # longest clip, in frames
    kinds: int = 3  # how many of the kinds (circle, square, triangle, diamond) appear
    colours: int = 5  # how many of the colours (red, green, blue, yellow, purple) appear
    # half, not a quarter: +0.26 points on held-out colours in four seeds (docs/benchmarks.md)
    grey: float = 0.5  # fraction of training clips in grey: kinds told apart by form alone
    max_bounces: int = 2  # most wall bounces of one shape before it leaves
    overlap: bool = False  # shapes share the screen (only with multilabel: one tag each)
    seed: int = 0  # seed of the generator; the held-out pairs do not depend on it


@dataclass
class VideoConfig:
    """A frame CNN under a (bidirectional) GRU/LSTM with a per-frame tag head."""

    # "small_cnn" (a conv stack for small frames), a torchvision model name, or hf:ID
    backbone: str = "small_cnn"
    pretrained: bool = False  # start a torchvision backbone from its pretrained weights
    freeze_backbone: bool = False  # keep the backbone's weights fixed (features are cached)
    feature_cache: int = 5000  # clip pieces whose frozen-backbone features stay in memory
    cnn_chunk: int = 256  # most frames through the CNN at once (bounds memory on long clips)
    # end the CNN with a convolution over its whole grid, so frame features keep where things
    # are (bounces and exits happen at the edges); pooling alone would average it away
    position: bool = True
    # add each CNN channel's soft-argmax (where on the grid it fires, as x and y) to the
    # frame features: a shape's place to a fraction of a cell, little moved by its contrast
    keypoints: bool = added(True, before=False)
    frame_size: int = 32  # frames are resized to frame_size x frame_size pixels
    feature_size: int = 64  # per-frame features are projected to this width
    # the RNN also sees how each frame's features changed since the frame before, so that
    # where a shape crosses a border or turns shows to the frame (streamed clips carry the
    # last frame's features from chunk to chunk)
    motion: bool = added(True, before=False)
    hidden_size: int = 64  # RNN units per direction
    num_layers: int = 1  # stacked RNN layers
    cell: Literal["rnn", "gru", "lstm"] = "gru"  # recurrent cell over time
    bidirectional: bool = True  # read each clip both ways (False: stream long videos)
    # train in chunks of train.bptt frames, carrying the state across the chunks of a clip
    # (truncated BPTT: memory stays flat as clips grow); needs bidirectional=False
    stream: bool = False
    dropout: float = 0.1  # on the frame features and before the head
    # fraction of training clips shown with their colour channels shuffled (0: none): tags
    # should not depend on colour (the built-in test clips show colours training did not)
    colour_shuffle: float = 0.5
    multilabel: bool = False  # a sigmoid per tag (several tags a frame) instead of a softmax
    background: str = "empty"  # tag of frames outside every annotated segment
    smoothing: float = 0.0  # Viterbi switch penalty at inference, in nats (0: none)
    # at evaluation and prediction, also tag each clip mirrored left to right and average the
    # two views' probabilities (twice the compute; training is unchanged): for tags that left
    # and right do not change, such as the built-in ones; --no-mirror where they do
    # ("turn left"). On the built-in clips: +0.3 points on validation (docs/tasks/video.md)
    mirror: bool = added(True, before=False)
    fps: float = 0.0  # frames per second sampled from video files (0: every frame)
    max_seconds: float = 600.0  # refuse videos longer than this
    max_side: int = 4096  # refuse videos whose width or height exceeds this
    max_megabytes: float = 500.0  # refuse video files larger than this
    max_frames: int = 20000  # refuse clips with more frames than this (after sampling)
    valid_fraction: float = 0.1  # clips held out for validation when the data has no such split
    test_fraction: float = 0.1  # clips held out for testing when the data has no such split
    clips: ClipConfig = field(default_factory=ClipConfig)  # the built-in data
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=8, optimizer="adam", lr=6e-3, clip=5.0, schedule="cosine", warmup_steps=30,
        epochs=8, log_every=25, bptt=64))  # see seqkit.TrainConfig
