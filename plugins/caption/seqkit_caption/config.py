"""The caption task's config. Defaults train on the built-in scenes in a few CPU minutes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import SeqkitError, TrainConfig, bounded


@dataclass
class SceneConfig:
    """The built-in data: generated scenes of one to three shapes, captioned by a grammar."""

    train_images: int = bounded(12000, ">= 1")  # scenes in the training split
    valid_images: int = bounded(300, ">= 0")  # scenes in the validation split (compositions seen in training)
    test_images: int = bounded(400, ">= 0")  # scenes in the test split (every one holds a held-out composition)
    canvas: int = bounded(64, ">= 8")  # side of a scene in pixels, before resizing to image_size
    min_shapes: int = bounded(1, "[1, 3]")  # fewest shapes in one scene (1 to 3)
    max_shapes: int = bounded(3, "[1, 3]")  # most shapes in one scene (1 to 3)
    colours: int = bounded(5, "[1, 5]")  # how many of the colours (red, green, blue, yellow, purple) appear
    kinds: int = bounded(4, "[1, 4]")  # how many of the kinds (circle, square, triangle, diamond) appear
    holdout: float = bounded(0.2, "[0, 1)")  # fraction of ordered shape pairs kept out of training (test only)
    seed: int = bounded(0, ">= 0")  # seed of the generator; the held-out pairs do not depend on it

    def check(self) -> None:
        """Settings that bound each other."""
        if self.min_shapes > self.max_shapes:
            raise SeqkitError(f"min_shapes ({self.min_shapes}) must not exceed max_shapes "
                              f"({self.max_shapes})")


@dataclass
class CaptionConfig:
    """Show, Attend and Tell: a CNN grid encoder and a gated Bahdanau-attention LSTM decoder."""

    backbone: str = "scene_cnn"  # scene_cnn, torchvision model name, hf:ID or Hugging Face folder
    pretrained: bool = False  # start from the backbone's pretrained weights (downloaded once)
    cut_after: str = ""  # keep the backbone up to this stage (a finer grid); "": up to pooling
    finetune_from: str = ""  # freeze the stages before this one; "": train all, "none": freeze all
    photo_encoder: bool = True  # real images: pretrained EfficientNet-Lite0 (seqkit_caption.pretrained)
    cache_features: int = bounded(10000, ">= 0")  # images whose frozen-backbone output is kept
    image_size: int = bounded(64, ">= 1")  # images are resized to image_size x image_size pixels
    feature_size: int = bounded(128, ">= 0")  # grid features are projected to this width (0: keep the backbone's)
    grid_positions: bool = True  # add a learnt embedding of each grid cell's position
    embed_size: int = bounded(64, ">= 1")  # word embedding width
    hidden_size: int = bounded(256, ">= 1")  # LSTM units
    num_layers: int = bounded(1, ">= 1")  # stacked LSTM layers
    cell: Literal["rnn", "gru", "lstm"] = "lstm"  # recurrent cell of the decoder
    attention_size: int = bounded(128, ">= 1")  # width of the additive attention's hidden layer
    input_feeding: bool = False  # also feed the last attentional vector into the LSTM
    image_init: bool = True  # start the LSTM from the mean grid feature; False: from zeros
    dropout: float = bounded(0.0, "[0, 1)")  # on word embeddings and before the output layer
    attention_penalty: float = bounded(0.0, ">= 0")  # lambda of the doubly stochastic attention penalty
    min_count: int = bounded(1, ">= 1")  # words seen fewer times in training become <unk>
    max_length: int = bounded(24, ">= 1")  # most words in a generated caption
    beam: int = bounded(3, ">= 1")  # beam size when evaluating and predicting
    baseline_images: int = bounded(1000, ">= 0")  # training images kept for the nearest-neighbour baseline
    max_pixels: int = bounded(40_000_000, ">= 1")  # refuse images with more pixels than this (a decompression guard)
    valid_fraction: float = bounded(0.1, "[0, 1)")  # images held out for validation when the data has no such split
    test_fraction: float = bounded(0.1, "[0, 1)")  # images held out for testing when the data has no such split
    cache_images: int = bounded(20000, ">= 0")  # decoded, resized images kept in memory
    scenes: SceneConfig = field(default_factory=SceneConfig)  # the built-in data
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=32, optimizer="adam", lr=5e-3, clip=5.0, schedule="cosine", warmup_steps=50,
        epochs=6, log_every=25, bf16=False))  # see seqkit.TrainConfig

    def check(self) -> None:
        """Settings that bound each other."""
        if self.valid_fraction + self.test_fraction >= 1:
            raise SeqkitError(f"valid_fraction + test_fraction must be below 1 (got "
                              f"{self.valid_fraction} + {self.test_fraction}): nothing would be "
                              "left to train on")
