"""Batches for truncated BPTT over whole clips: ``B`` lanes, each reading one clip at a time.

Every batch gives each lane the next ``bptt`` frames of its clip; a lane that finishes its clip
takes the next one of the epoch and marks the row ``reset`` (the carried state is dropped for
that row only). Row ``b`` of batch ``i + 1`` thus continues row ``b`` of batch ``i``, which is
what lets ``fit()`` carry the recurrent state across the chunks of one clip while gradients
stop at chunk boundaries: memory stays flat however long the clips are.

Lanes that run out of clips near the end of an epoch idle: their rows hold one blank frame
with ``index`` -1, which the loss ignores, so the batch keeps its ``B`` rows (and the state its
shape). The plan depends only on the clip lengths, the seed and the epoch.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset

from seqkit.errors import SeqkitError

Piece = tuple[int, int, bool]  # (item number, first frame, starts the clip)


def plan_chunks(lengths: list[int], lanes: int, bptt: int, seed: int) -> list[list[Piece | None]]:
    """The pieces of every batch of one epoch: ``lanes`` entries per batch (None: idle)."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    queue = iter(order)
    current: list[list[int] | None] = [None] * lanes  # [item, next frame] per lane
    batches = []
    while True:
        row: list[Piece | None] = []
        for lane in range(lanes):
            state = current[lane]
            if state is None or state[1] >= lengths[state[0]]:
                item = next(queue, None)
                state = current[lane] = None if item is None else [item, 0]
            if state is None:
                row.append(None)
                continue
            row.append((state[0], state[1], state[1] == 0))
            state[1] += bptt
        if all(piece is None for piece in row):
            return batches
        batches.append(row)


class _Stream(IterableDataset):
    """Collated batches of a plan, decoding each clip once per lane (in a worker process)."""

    def __init__(self, items: list, plan: list[list[Piece | None]], bptt: int,
                 collate: Callable[[list], dict]):
        self.items, self.plan, self.bptt, self.collate = items, plan, bptt, collate

    def __iter__(self) -> Iterator[dict]:
        decoded: dict[int, tuple[int, dict]] = {}  # lane -> (item, its whole collated clip)
        for row in self.plan:
            pieces = []
            for lane, piece in enumerate(row):
                if piece is None:
                    pieces.append(None)
                    continue
                item, start, _ = piece
                if decoded.get(lane, (None,))[0] != item:
                    decoded[lane] = (item, self.collate([self.items[item]]))
                pieces.append((decoded[lane][1], start))
            yield self._batch(pieces)

    def _batch(self, pieces: list) -> dict:
        """Cut ``bptt`` frames of each lane's clip and pad them into one batch."""
        rows = [(clip, start) for clip, start in (p for p in pieces if p is not None)]
        frames_shape = rows[0][0]["frames"].shape[2:]
        target_shape = rows[0][0]["targets"].shape[2:]
        width = max(min(self.bptt, int(c["lengths"][0]) - s) for c, s in rows)
        lanes = len(pieces)
        batch = {"frames": torch.zeros(lanes, width, *frames_shape, dtype=torch.uint8),
                 "targets": torch.zeros(lanes, width, *target_shape,
                                        dtype=rows[0][0]["targets"].dtype),
                 "lengths": torch.ones(lanes, dtype=torch.long),
                 "reset": torch.ones(lanes, dtype=torch.bool),
                 "keys": torch.full((lanes,), -1, dtype=torch.long),
                 "index": torch.full((lanes,), -1, dtype=torch.long)}
        for lane, piece in enumerate(pieces):
            if piece is None:
                continue
            clip, start = piece
            count = min(self.bptt, int(clip["lengths"][0]) - start)
            batch["frames"][lane, :count] = clip["frames"][0, start: start + count]
            batch["targets"][lane, :count] = clip["targets"][0, start: start + count]
            batch["lengths"][lane] = count
            batch["reset"][lane] = start == 0
            batch["keys"][lane] = clip["keys"][0] + start
            batch["index"][lane] = clip["index"][0]
        return batch


class ChunkBatches:
    """Streaming batches of ``lanes`` rows, ``bptt`` frames each (see the module docstring).

    ``items`` are what ``collate`` takes (one at a time); ``length(item)`` its frame count."""

    def __init__(self, items: list, lanes: int, bptt: int, collate: Callable[[list], dict],
                 length: Callable[[Any], int], seed: int = 0, workers: int = 0,
                 context: Any = None):
        if not items:
            raise SeqkitError("no clips to batch: the data split is empty")
        if bptt < 1:
            raise SeqkitError(f"--train.bptt must be at least 1 frame, not {bptt}")
        self.examples, self.lanes, self.bptt, self.collate = items, lanes, bptt, collate
        self.lengths = [int(length(item)) for item in items]
        self.seed, self.workers, self.context = seed, workers, context
        self.facts: dict[str, float] = {}
        self._len = len(self.plan(0))

    @property
    def meta(self) -> dict:
        """The facts (the older name)."""
        return self.facts

    def __len__(self) -> int:
        return self._len

    def plan(self, number: int) -> list[list[Piece | None]]:
        """Pieces of every batch of epoch ``number``."""
        return plan_chunks(self.lengths, self.lanes, self.bptt, self.seed * 100_003 + number)

    def epoch(self, number: int, start: int = 0, rank: int = 0, world: int = 1) -> Iterator[dict]:
        """Batches of epoch ``number`` from batch ``start`` on; under DDP, lanes
        ``rank::world``. A resumed run re-decodes the clips its lanes were in the middle of."""
        if world > self.lanes:
            raise SeqkitError(f"{world} processes cannot share {self.lanes} lanes; raise "
                              "--train.batch-size to at least the process count")
        plan = [row[rank::world] for row in self.plan(number)[start:]]
        stream = _Stream(self.examples, plan, self.bptt, self.collate)
        if not self.workers:
            return iter(stream)
        return iter(DataLoader(stream, batch_size=None, num_workers=1))
