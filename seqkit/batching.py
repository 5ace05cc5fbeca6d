"""Batches for the two kinds of training that ``fit()`` knows.

- ``StreamBatches``: one long token stream cut into ``B`` parallel rows, read ``bptt`` steps at
  a time. Row ``b`` of chunk ``i + 1`` continues row ``b`` of chunk ``i``, which is what lets
  truncated BPTT carry the hidden state from one chunk to the next.
- ``BucketBatches``: independent examples grouped by length (a fixed count per batch, or as many
  as fit a budget of tokens or frames, padding included), decoded and collated by a
  ``torch.utils.data.DataLoader`` in worker processes. The order depends only on the seed and
  the epoch (see ``seqkit.loader.plan_batches``), so a resumed run sees the same batches and
  skips the done ones without decoding them. Under DDP each rank collates only its own share
  of every batch. With ``draws``, the collate also gets a ``random.Random`` of its own batch
  and epoch, for augmentation that draws afresh every epoch and the same on a resumed run.

Both carry two typed fields instead of a bag of facts: ``facts`` (numbers about the split that
evaluation reports beside its metrics, e.g. a perplexity floor) and ``context`` (the plugin's
own object for its ``evaluate``, e.g. the reference captions; the core never reads it).

Padding: ``pad`` right-pads token ids to ``(B, T_max)``; ``pad_features`` right-pads float
features ``(T_i, F)`` (spectrograms, frame features) to ``(B, T_max, F)``; both return lengths.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from seqkit.errors import SeqkitError
from seqkit.loader import plan_batches, shard

C = TypeVar("C")


class StreamBatches:
    """Contiguous streams: ``ids (N,)`` -> chunks ``(inputs (B, t), targets (B, t))``."""

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int, *,
                 facts: dict[str, float] | None = None, context: Any = None):
        rows = (ids.numel() - 1) // batch_size
        if rows < 1:
            raise SeqkitError(f"the text has {ids.numel()} tokens: too few for {batch_size} "
                              "parallel streams; use more data or a smaller --train.batch-size")
        # Row b holds tokens [b*rows, (b+1)*rows]; targets are the same rows shifted by one.
        self.inputs = ids[: rows * batch_size].view(batch_size, rows)
        self.targets = ids[1: rows * batch_size + 1].view(batch_size, rows)
        self.bptt = bptt
        self.facts: dict[str, float] = dict(facts or {})
        self.context = context

    def __len__(self) -> int:
        return -(-self.inputs.size(1) // self.bptt)

    @property
    def tokens(self) -> int:
        """Number of target tokens per epoch."""
        return self.targets.numel()

    def epoch(self, number: int, start: int = 0, rank: int = 0,
              world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Chunks in stream order from chunk ``start`` on; every epoch is the same (the state
        resets between epochs). Under DDP (``world`` ranks) rank ``r`` reads rows ``r::world``,
        so each rank carries the state of its own rows."""
        if world > self.inputs.size(0):
            raise SeqkitError(f"{world} processes cannot share {self.inputs.size(0)} parallel "
                              "streams; raise --train.batch-size to at least the process count")
        inputs, targets = self.inputs[rank::world], self.targets[rank::world]
        for i in range(start, len(self)):
            cut = slice(i * self.bptt, (i + 1) * self.bptt)
            yield inputs[:, cut], targets[:, cut]


def pad(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids into ``(B, T_max)`` long and return it with the lengths ``(B,)``."""
    if not len(sequences):
        raise SeqkitError("nothing to pad: the batch is empty")
    tensors = [torch.as_tensor(s, dtype=torch.long) for s in sequences]
    lengths = torch.tensor([t.numel() for t in tensors])
    return pad_sequence(tensors, batch_first=True, padding_value=pad_id), lengths


def pad_features(features: Sequence[torch.Tensor],
                 value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad float features ``(T_i, F...)`` into ``(B, T_max, F...)`` with ``value``.

    Returns the padded batch (dtype of the inputs) and the lengths ``(B,)``. The trailing
    dimensions must agree (e.g. the same number of mel bins in every spectrogram).
    """
    if not len(features):
        raise SeqkitError("nothing to pad: the batch is empty")
    shapes = {tuple(f.shape[1:]) for f in features}
    if any(f.dim() < 1 for f in features) or len(shapes) > 1:
        raise SeqkitError(f"cannot pad features of shapes {[tuple(f.shape) for f in features]}: "
                          "every example must be (T_i, F...) with the same F...")
    lengths = torch.tensor([f.size(0) for f in features])
    return pad_sequence(list(features), batch_first=True, padding_value=value), lengths


class BucketBatches(Generic[C]):
    """Length-bucketed batches of independent examples, for full-BPTT sequence tasks.

    ``length(example)`` (tokens or frames; cheap: no decoding) orders examples inside each pool
    of ``pool * batch_size`` examples, so a batch holds examples of similar length (little
    padding) while the data order stays random. A batch holds ``batch_size`` examples, or with
    ``batch_tokens`` as many as keep ``rows * longest`` within that budget. ``collate(examples)``
    turns a batch into tensors; it runs in ``workers`` DataLoader processes (or in the loop
    with 0), so decoding images, audio or video belongs there. ``pin_memory``: page-locked
    batches for a fast copy to a GPU (default: when CUDA is available).

    ``draws``: call ``collate(examples, rng)`` with a ``random.Random`` seeded by the seed, the
    epoch, the batch and the rank, for training-time augmentation (speed, noise, crops). A seed
    drawn from the examples alone would draw the same every epoch wherever the batches repeat
    (a data set smaller than one pool is cut into the same batches every epoch), and the
    model would meet each example with the same perturbation, which it can learn by heart.
    """

    def __init__(self, examples: Sequence[Any], batch_size: int, length: Callable[[Any], int],
                 collate: Callable[[list], Any], seed: int = 0, shuffle: bool = True,
                 pool: int = 50, *, batch_tokens: int = 0,
                 workers: int = 0, pin_memory: bool | None = None,
                 facts: dict[str, float] | None = None, context: C | None = None,
                 draws: bool = False):
        if not examples:
            raise SeqkitError("no examples to batch: the data split is empty")
        self.examples, self.batch_size, self.batch_tokens = examples, batch_size, batch_tokens
        self.lengths = [int(length(e)) for e in examples]
        self.collate, self.workers, self.draws = collate, workers, draws
        self.seed, self.shuffle, self.pool = seed, shuffle, pool
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.facts: dict[str, float] = dict(facts or {})
        self.context = context
        self._persistent: DataLoader | None = None
        if batch_tokens and max(self.lengths) > batch_tokens:
            longest = max(range(len(examples)), key=self.lengths.__getitem__)
            raise SeqkitError(f"example {longest} has {self.lengths[longest]} tokens/frames, more "
                              f"than --train.batch-tokens {batch_tokens}: raise the budget or "
                              "drop or cut the longest examples")
        self._len = len(self.plan(0))

    @classmethod
    def from_config(cls, examples: Sequence[Any], train: Any, length: Callable[[Any], int],
                    collate: Callable[[list], Any], shuffle: bool = True,
                    facts: dict[str, float] | None = None,
                    context: C | None = None, draws: bool = False) -> "BucketBatches[C]":
        """Batches sized as a ``TrainConfig`` says: ``batch_size`` or ``batch_tokens``,
        ``workers`` and ``seed``."""
        return cls(examples, train.batch_size, length, collate, seed=train.seed, shuffle=shuffle,
                   batch_tokens=train.batch_tokens, workers=train.workers, facts=facts,
                   context=context, draws=draws)

    def __len__(self) -> int:
        """Batches in epoch 0 (with a token budget other epochs may differ by a few)."""
        return self._len

    def plan(self, number: int, world: int = 1) -> list[list[int]]:
        """Example indices of every (global) batch of epoch ``number``."""
        return plan_batches(self.lengths, self.batch_size, self.batch_tokens,
                            self.seed * 100_003 + number, self.shuffle, self.pool, world)

    def epoch(self, number: int, start: int = 0, rank: int = 0, world: int = 1) -> Iterator[Any]:
        """The collated batches of epoch ``number`` from batch ``start`` on (the skipped ones are
        never decoded); under DDP, rank ``rank``'s share of each, collated on that rank only.
        With workers, read one epoch at a time from each ``BucketBatches``."""
        plan = self.plan(number, world)
        mine = [[(f"{self.seed}/{number}/{batch}/{rank}", i)  # (the batch's draws, example)
                 for i in shard(plan[batch], rank, world)] for batch in range(start, len(plan))]
        if not mine:
            return iter(())
        if not self.workers:
            return iter(self._loader(mine, number))
        # Worker processes start once and serve every epoch (start-up and any decoding cache
        # are paid once): the loader reads the plan of the epoch from ``_sampler``.
        if self._persistent is None:
            self._sampler = _Plan()
            self._persistent = self._loader(self._sampler, number)
        self._sampler.batches = mine
        return iter(self._persistent)

    def _loader(self, batches: Iterable[list[int]], number: int) -> DataLoader:
        # Our own generator: the DataLoader draws its workers' seeds from it, not from the
        # global RNG that dropout uses (a resumed run must draw the same numbers).
        generator = torch.Generator().manual_seed(self.seed * 100_003 + number)
        return DataLoader(_Examples(self.examples), batch_sampler=batches,
                          collate_fn=_Collate(self.collate, self.draws),
                          num_workers=self.workers, pin_memory=self.pin_memory,
                          generator=generator, persistent_workers=self.workers > 0)


class _Examples(Dataset):
    """The examples as the DataLoader reads them: a batch of keys ``(batch seed, index)`` ->
    ``(batch seed, examples)``."""

    def __init__(self, examples: Sequence[Any]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitems__(self, keys: list[tuple[str, int]]) -> tuple[str, list]:
        return keys[0][0], [self.examples[i] for _, i in keys]


class _Collate:
    """``collate(examples)``, or with ``draws`` ``collate(examples, rng)`` (module docstring)."""

    def __init__(self, collate: Callable, draws: bool):
        self.collate, self.draws = collate, draws

    def __call__(self, batch: tuple[str, list]) -> Any:
        seed, examples = batch
        return self.collate(examples, random.Random(seed)) if self.draws else self.collate(examples)


class _Plan:
    """A batch sampler whose batches are set before each epoch (for persistent workers)."""

    def __init__(self):
        self.batches: list[list[tuple[str, int]]] = []

    def __iter__(self) -> Iterator[list[tuple[str, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
