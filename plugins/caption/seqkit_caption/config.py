"""The caption task's config. Defaults train on the built-in scenes in a few CPU minutes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import TrainConfig


@dataclass
class SceneConfig:
    """The built-in data: generated scenes of one to three shapes, captioned by a grammar."""

    train_images: int = 12000  # scenes in the training split
    valid_images: int = 300  # scenes in the validation split (compositions seen in training)
    test_images: int = 400  # scenes in the test split (every one holds a held-out composition)
    canvas: int = 64  # side of a scene in pixels, before resizing to image_size
    min_shapes: int = 1  # fewest shapes in one scene (1 to 3)
    max_shapes: int = 3  # most shapes in one scene (1 to 3)
    colours: int = 5  # how many of the colours (red, green, blue, yellow, purple) appear
    kinds: int = 4  # how many of the kinds (circle, square, triangle, diamond) appear
    holdout: float = 0.2  # fraction of ordered shape pairs kept out of training (test only)
    seed: int = 0  # seed of the generator; the held-out pairs do not depend on it


@dataclass
class CaptionConfig:
    """Show, Attend and Tell: a CNN grid encoder and a gated Bahdanau-attention LSTM decoder."""

    backbone: str = "resnet18"  # torchvision model name, or hf:ID / a local folder (Hugging Face)
    pretrained: bool = False  # start from the backbone's pretrained weights (downloaded once)
    cut_after: str = "layer3"  # keep the backbone up to this stage (finer grid); "": up to pooling
    finetune_from: str = ""  # freeze the stages before this one; "": train all, "none": freeze all
    image_size: int = 64  # images are resized to image_size x image_size pixels
    feature_size: int = 128  # grid features are projected to this width (0: keep the backbone's)
    grid_positions: bool = True  # add a learnt embedding of each grid cell's position
    embed_size: int = 64  # word embedding width
    hidden_size: int = 256  # LSTM units
    num_layers: int = 1  # stacked LSTM layers
    cell: Literal["rnn", "gru", "lstm"] = "lstm"  # recurrent cell of the decoder
    attention_size: int = 128  # width of the additive attention's hidden layer
    input_feeding: bool = False  # also feed the last attentional vector into the LSTM
    image_init: bool = True  # start the LSTM from the mean grid feature; False: from zeros
    dropout: float = 0.3  # on word embeddings and before the output layer
    attention_penalty: float = 0.1  # lambda of the doubly stochastic attention penalty
    min_count: int = 1  # words seen fewer times in training become <unk>
    max_length: int = 24  # most words in a generated caption
    beam: int = 3  # beam size when evaluating and predicting
    baseline_images: int = 1000  # training images kept for the nearest-neighbour baseline
    max_pixels: int = 40_000_000  # refuse images with more pixels than this (a decompression guard)
    valid_fraction: float = 0.1  # images held out for validation when the data has no such split
    test_fraction: float = 0.1  # images held out for testing when the data has no such split
    cache_images: int = 20000  # decoded, resized images kept in memory
    scenes: SceneConfig = field(default_factory=SceneConfig)  # the built-in data
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=32, optimizer="adam", lr=2e-3, clip=5.0, schedule="cosine", warmup_steps=50,
        epochs=6, log_every=25, bf16=False))  # see seqkit.TrainConfig
