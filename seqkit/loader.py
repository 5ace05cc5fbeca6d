"""The plan of an epoch: which examples form each batch, and each rank's share of a batch.

``plan_batches`` is a length-bucketing batch sampler as a pure function of the example lengths
and a seed, so that every rank computes the same plan without talking to the others, and a
resumed run recomputes the plan of its epoch and skips the batches it had done.
"""
from __future__ import annotations

import random
from typing import Sequence

from seqkit.errors import SeqkitError


def plan_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int, seed: int,
                 shuffle: bool = True, pool: int = 50, world: int = 1) -> list[list[int]]:
    """Index lists of the batches of one epoch; every index appears exactly once.

    The (shuffled) examples are cut into pools of ``pool * batch_size``, each pool sorted by
    length and cut into batches: ``batch_size`` examples each or, with ``batch_tokens``, as many
    as keep ``rows * longest length`` within the budget. The batch order is then shuffled.
    ``world``: under DDP, a batch of fewer than ``world`` examples is merged into its neighbour,
    so that no rank gets an empty share (a budget may then be exceeded by those few examples).
    """
    if len(lengths) < world:
        raise SeqkitError(f"{len(lengths)} examples cannot be shared by {world} processes; use "
                          "more data or fewer processes")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    size = max(batch_size, 1) * pool
    batches: list[list[int]] = []
    for i in range(0, len(order), size):
        ranked = sorted(order[i: i + size], key=lengths.__getitem__)
        batches += (_fill(ranked, lengths, batch_tokens) if batch_tokens
                    else [ranked[j: j + batch_size] for j in range(0, len(ranked), batch_size)])
    batches = _merge_small(batches, world)
    if shuffle:
        rng.shuffle(batches)
    return batches


def _fill(ranked: list[int], lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Cut indices sorted by length into batches whose padded size stays within ``budget``."""
    batches, current, longest = [], [], 0
    for index in ranked:
        wider = max(longest, lengths[index])
        if current and (len(current) + 1) * wider > budget:
            batches.append(current)
            current, wider = [], lengths[index]
        current.append(index)
        longest = wider
    if current:
        batches.append(current)
    return batches


def _merge_small(batches: list[list[int]], world: int) -> list[list[int]]:
    """Merge every batch of fewer than ``world`` indices into the batch before it (or after)."""
    if world <= 1:
        return batches
    out: list[list[int]] = []
    for batch in batches:
        if out and (len(batch) < world or len(out[-1]) < world):
            out[-1] = out[-1] + batch
        else:
            out.append(batch)
    return out


def shard(indices: list[int], rank: int, world: int) -> list[int]:
    """Rank ``rank``'s share of one batch: every ``world``-th index, starting at ``rank``."""
    return indices[rank::world]
