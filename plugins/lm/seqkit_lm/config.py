"""Configs of the two language-model tasks. Defaults suit a corpus of about a million tokens."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqkit import TrainConfig, bounded


@dataclass
class LMConfig:
    """Word-level LM: a 2-layer LSTM with tied embeddings, trained with SGD and linear decay."""

    cell: Literal["rnn", "gru", "lstm"] = "lstm"  # recurrent cell
    embed_size: int = bounded(400, ">= 1")  # token embedding width (= output layer input when tied)
    hidden_size: int = bounded(400, ">= 1")  # units per recurrent layer
    num_layers: int = bounded(2, ">= 1")  # stacked recurrent layers
    dropout: float = bounded(0.5, "[0, 1)")  # on embeddings, between layers and before the output layer
    tie_weights: bool = True  # share the embedding matrix with the output layer
    max_vocab: int = bounded(0, ">= 0")  # keep the most frequent symbols (0: all); the rest become <unk>
    holdout: float = bounded(0.1, "(0, 1)")  # without a valid split, hold out this fraction of the training text
    eval_batch_size: int = bounded(10, ">= 1")  # parallel streams when evaluating
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=20, bptt=35, optimizer="sgd", lr=20.0, clip=0.25, schedule="linear",
        epochs=40, bf16=True))  # see seqkit.TrainConfig


@dataclass
class CharLMConfig(LMConfig):
    """Character-level LM: a wider LSTM over characters, trained with Adam."""

    embed_size: int = bounded(64, ">= 1")  # character embedding width
    hidden_size: int = bounded(384, ">= 1")  # units per recurrent layer
    num_layers: int = bounded(2, ">= 1")  # stacked recurrent layers
    dropout: float = bounded(0.2, "[0, 1)")  # on embeddings, between layers and before the output layer
    tie_weights: bool = False  # characters gain nothing from tying
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=32, bptt=128, optimizer="adam", lr=2e-3, clip=1.0, schedule="linear",
        epochs=30, bf16=True))  # see seqkit.TrainConfig


Level = Literal["word", "char"]
