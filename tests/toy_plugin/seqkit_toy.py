"""A minimal third-party seqkit plugin, used by the discovery test and shown in docs/plugins.md.

Task ``toy``: predict the next symbol of a repeating pattern, a stream task trained with
truncated BPTT through the core's Decoder.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from seqkit import Task, TaskData, TrainConfig
from seqkit.batching import StreamBatches
from seqkit.decoder import Decoder

PATTERN = [1, 2, 3, 1, 3, 2]


@dataclass
class ToyConfig:
    """Config of the toy task."""

    hidden_size: int = 16  # units of the GRU
    length: int = 600  # tokens in the generated stream
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        batch_size=4, bptt=8, optimizer="adam", lr=0.01, epochs=3))  # how to train


def prepare(config, source, assets):
    ids = torch.tensor(PATTERN * (config.length // len(PATTERN)))
    batches = StreamBatches(ids, config.train.batch_size, config.train.bptt)
    return TaskData(assets=4, splits={"train": batches, "valid": batches})


def build_model(config, vocab_size):
    return Decoder(vocab_size, 8, config.hidden_size, cell="gru")


def loss(model, batch, state):
    inputs, targets = batch
    logits, state = model(inputs, state)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten()), targets.numel(), state


def evaluate(model, batches, config, assets):
    total, count, state = 0.0, 0, None
    for batch in batches.epoch(0):
        value, items, state = loss(model, batch, state)
        total, count = total + value.item() * items, count + items
    return {"loss": total / count}


def save_assets(vocab_size, folder):
    (folder / "vocab_size.txt").write_text(str(vocab_size))


def load_assets(folder):
    return int((folder / "vocab_size.txt").read_text())


task = Task(name="toy", description="toy pattern task (test plugin)", config=ToyConfig,
            prepare=prepare, build_model=build_model, loss=loss, evaluate=evaluate,
            save_assets=save_assets, load_assets=load_assets, streams=True)
