"""Batches for the two kinds of training that ``fit()`` knows.

- ``StreamBatches``: one long token stream cut into ``B`` parallel rows, read ``bptt`` steps at
  a time. Row ``b`` of chunk ``i + 1`` continues row ``b`` of chunk ``i``, which is what lets
  truncated BPTT carry the hidden state from one chunk to the next.
- ``BucketBatches``: independent examples grouped by length, padded, in a shuffled order that
  depends only on the seed and the epoch (so a resumed run sees the same batches).
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator, Sequence

import torch

from seqkit.errors import SeqkitError


class StreamBatches:
    """Contiguous streams: ``ids (N,)`` -> chunks ``(inputs (B, t), targets (B, t))``."""

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int, meta: dict | None = None):
        rows = (ids.numel() - 1) // batch_size
        if rows < 1:
            raise SeqkitError(f"the text has {ids.numel()} tokens: too few for {batch_size} "
                              "parallel streams; use more data or a smaller --train.batch-size")
        # Row b holds tokens [b*rows, (b+1)*rows]; targets are the same rows shifted by one.
        self.inputs = ids[: rows * batch_size].view(batch_size, rows)
        self.targets = ids[1: rows * batch_size + 1].view(batch_size, rows)
        self.bptt = bptt
        self.meta = meta or {}

    def __len__(self) -> int:
        return -(-self.inputs.size(1) // self.bptt)

    @property
    def tokens(self) -> int:
        """Number of target tokens per epoch."""
        return self.targets.numel()

    def epoch(self, number: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Chunks in stream order; every epoch is the same (the state resets between epochs)."""
        for i in range(start, len(self)):
            cut = slice(i * self.bptt, (i + 1) * self.bptt)
            yield self.inputs[:, cut], self.targets[:, cut]


def pad(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids into ``(B, T_max)`` long and return it with the lengths ``(B,)``."""
    lengths = torch.tensor([len(s) for s in sequences])
    out = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out, lengths


class BucketBatches:
    """Length-bucketed batches of independent examples, for full-BPTT sequence tasks.

    ``length(example)`` orders examples inside each pool of ``pool * batch_size`` examples, so a
    batch holds examples of similar length (little padding) while the data order stays random.
    ``collate(list_of_examples)`` turns a batch into tensors.
    """

    def __init__(self, examples: Sequence[Any], batch_size: int, length: Callable[[Any], int],
                 collate: Callable[[list], Any], seed: int = 0, shuffle: bool = True,
                 pool: int = 50, meta: dict | None = None):
        if not examples:
            raise SeqkitError("no examples to batch: the data split is empty")
        self.examples, self.batch_size = examples, batch_size
        self.length, self.collate = length, collate
        self.seed, self.shuffle, self.pool = seed, shuffle, pool
        self.meta = meta or {}

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def _order(self, number: int) -> list[list[int]]:
        """Index lists of every batch of epoch ``number``."""
        order = list(range(len(self.examples)))
        rng = random.Random(self.seed * 100_003 + number)
        if self.shuffle:
            rng.shuffle(order)
        size = self.batch_size * self.pool
        pools = [sorted(order[i: i + size], key=lambda j: self.length(self.examples[j]))
                 for i in range(0, len(order), size)]
        batches = [p[i: i + self.batch_size] for p in pools for i in range(0, len(p), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def epoch(self, number: int, start: int = 0) -> Iterator[Any]:
        """The collated batches of epoch ``number`` from batch ``start`` on."""
        for indices in self._order(number)[start:]:
            yield self.collate([self.examples[i] for i in indices])
