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
    """Collated batches of a plan. Each lane reads its clip piece by piece through
    ``pieces(item, bptt)`` (decoding a video file as it goes), in a worker process."""

    def __init__(self, items: list, plan: list[list[Piece | None]], bptt: int,
                 pieces: Callable[[Any, int], Iterator[dict]]):
        self.items, self.plan, self.bptt, self.pieces = items, plan, bptt, pieces

    def __iter__(self) -> Iterator[dict]:
        readers: dict[int, tuple[int, int, Iterator[dict]]] = {}  # lane -> (item, next, pieces)
        for row in self.plan:
            cut = []
            for lane, piece in enumerate(row):
                if piece is None:
                    cut.append(None)
                    continue
                item, start, _ = piece
                if readers.get(lane, (None, None))[:2] != (item, start):  # a new clip, or resumed
                    reader = self.pieces(self.items[item], self.bptt)
                    for _ in range(start // self.bptt):  # skip to the resumed piece
                        next(reader, None)
                    readers[lane] = (item, start, reader)
                reader = readers[lane][2]
                readers[lane] = (item, start + self.bptt, reader)
                cut.append(next(reader, None))  # None: the clip was shorter than its header said
            yield self._batch(cut, [p is not None and p[2] for p in row])

    def _batch(self, pieces: list[dict | None], starts: list[bool]) -> dict:
        """Pad the lanes' pieces into one batch; idle lanes get one blank frame."""
        rows = [p for p in pieces if p is not None]
        if not rows:
            raise SeqkitError("every lane's clip ended before its planned length")
        width = max(int(p["lengths"][0]) for p in rows)
        lanes, first = len(pieces), rows[0]
        batch = {"frames": first["frames"].new_zeros(lanes, width, *first["frames"].shape[2:]),
                 "targets": first["targets"].new_zeros(lanes, width,
                                                        *first["targets"].shape[2:]),
                 "lengths": torch.ones(lanes, dtype=torch.long),
                 "reset": torch.tensor(starts, dtype=torch.bool) | torch.tensor(
                     [p is None for p in pieces]),
                 "keys": torch.full((lanes,), -1, dtype=torch.long),
                 "index": torch.full((lanes,), -1, dtype=torch.long)}
        for lane, piece in enumerate(pieces):
            if piece is not None:
                count = int(piece["lengths"][0])
                batch["frames"][lane, :count] = piece["frames"][0]
                batch["targets"][lane, :count] = piece["targets"][0]
                for key in ("lengths", "keys", "index"):
                    batch[key][lane] = piece[key][0]
        return batch


class ChunkBatches:
    """Streaming batches of ``lanes`` rows, ``bptt`` frames each (see the module docstring).

    ``pieces(item, bptt)`` yields an item's successive one-row batches (``frames``,
    ``targets``, ``lengths``, ``keys``, ``index``); ``length(item)`` is its frame count."""

    def __init__(self, items: list, lanes: int, bptt: int,
                 pieces: Callable[[Any, int], Iterator[dict]],
                 length: Callable[[Any], int], seed: int = 0, workers: int = 0,
                 context: Any = None):
        if not items:
            raise SeqkitError("no clips to batch: the data split is empty")
        if bptt < 1:
            raise SeqkitError(f"--train.bptt must be at least 1 frame, not {bptt}")
        self.examples, self.lanes, self.bptt, self.pieces = items, lanes, bptt, pieces
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
        stream = _Stream(self.examples, plan, self.bptt, self.pieces)
        if not self.workers:
            return iter(stream)
        return iter(DataLoader(stream, batch_size=None, num_workers=1))
