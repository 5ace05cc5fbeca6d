"""The data pipeline: length buckets, token budgets, DDP shards, worker decoding, exact resume,
float padding."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqkit.batching import BucketBatches, StreamBatches, pad, pad_features
from seqkit.errors import SeqkitError
from seqkit.loader import plan_batches


def _collate(examples: list[tuple[int, int]]) -> dict:
    """Examples are ``(index, length)``; a batch is their padded float features."""
    feats = [torch.full((length, 5), float(index)) for index, length in examples]
    padded, lengths = pad_features(feats)
    return {"index": torch.tensor([i for i, _ in examples]), "features": padded,
            "lengths": lengths}


def _examples(lengths):
    return [(i, n) for i, n in enumerate(lengths)]


def _batches(lengths, **kw) -> BucketBatches:
    return BucketBatches(_examples(lengths), kw.pop("batch_size", 3), lambda e: e[1], _collate,
                         seed=kw.pop("seed", 7), **kw)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 13), min_size=1, max_size=80), st.integers(13, 60),
       st.integers(0, 5))
def test_token_budget_batches_stay_within_budget_and_cover_every_example_once(lengths, budget,
                                                                              epoch):
    plan = plan_batches(lengths, 3, budget, seed=epoch, pool=4)
    assert all(len(b) * max(lengths[i] for i in b) <= budget for b in plan)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))


def test_token_budget_fills_batches_rather_than_counting_them():
    lengths = [2] * 30 + [9] * 9
    plan = plan_batches(lengths, 3, 18, seed=0, pool=100)
    # 9 short ones per batch (9 * 2 = 18), 2 long ones (2 * 9 = 18)
    assert sorted(len(b) for b in plan) == [1, 2, 2, 2, 2, 3, 9, 9, 9]
    with pytest.raises(SeqkitError, match="batch-tokens"):
        _batches([3, 20, 4], batch_tokens=10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=60), st.integers(1, 7))
def test_fixed_size_batches_cover_every_example_once(lengths, batch_size):
    plan = plan_batches(lengths, batch_size, 0, seed=3, pool=2)
    assert all(1 <= len(b) <= batch_size for b in plan)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))


def test_buckets_group_similar_lengths():
    lengths = [(i * 7) % 31 + 1 for i in range(90)]
    plan = plan_batches(lengths, 5, 0, seed=1, pool=18)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plan)
    assert spread < 0.2 * 30 * len(plan)  # a random cut would spread about 2/3 of the range


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("budget", [0, 20])
def test_ddp_shards_are_disjoint_non_empty_and_cover_the_epoch(world, budget):
    """7 examples in batches of 3 leave a last batch of one row: no rank may get nothing."""
    for lengths in ([4, 2, 5, 3, 1, 6, 2], [(i * 5) % 9 + 1 for i in range(31)]):
        batches = _batches(lengths, batch_size=3, batch_tokens=budget)
        shards = [[b["index"].tolist() for b in batches.epoch(2, rank=r, world=world)]
                  for r in range(world)]
        assert len({len(s) for s in shards}) == 1  # every rank takes the same number of steps
        for step in zip(*shards):
            assert all(step)  # non-empty
            flat = [i for part in step for i in part]
            assert len(flat) == len(set(flat))  # disjoint
        seen = sorted(i for s in shards for part in s for i in part)
        assert seen == list(range(len(lengths)))


def test_each_rank_collates_only_its_own_examples():
    collated = []

    def spy(examples):
        collated.extend(i for i, _ in examples)
        return _collate(examples)

    batches = BucketBatches(_examples([3, 1, 4, 1, 5, 9, 2, 6, 5]), 4, lambda e: e[1], spy)
    list(batches.epoch(0, rank=1, world=2))
    assert len(collated) == 4 and len(set(collated)) == 4


def test_worker_processes_give_the_same_batches_as_the_loop():
    """Epoch after epoch (the workers persist), a resumed start included."""
    lengths = [(i * 5) % 11 + 1 for i in range(29)]
    loop, workers = _batches(lengths, batch_tokens=24), _batches(lengths, batch_tokens=24,
                                                                 workers=2)
    for number, start in ((1, 0), (2, 3), (3, 0)):
        here, there = list(loop.epoch(number, start)), list(workers.epoch(number, start))
        assert len(here) == len(there) > 3
        for a, b in zip(here, there):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_workers_decode_outside_the_main_process_and_persist():
    import os

    def where(examples):
        return torch.tensor([os.getpid()] * len(examples))

    batches = BucketBatches(list(range(10)), 4, lambda e: 1, where, workers=1)
    first = torch.cat(list(batches.epoch(0)))
    assert (first != os.getpid()).all()
    assert torch.equal(torch.cat(list(batches.epoch(1))).unique(), first.unique())


def test_order_depends_only_on_seed_and_epoch_and_resume_skips_without_decoding():
    lengths = [(i * 3) % 13 + 1 for i in range(40)]
    first = [b["index"].tolist() for b in _batches(lengths).epoch(4)]
    assert first == [b["index"].tolist() for b in _batches(lengths).epoch(4)]
    assert first != [b["index"].tolist() for b in _batches(lengths).epoch(5)]
    assert first != [b["index"].tolist() for b in _batches(lengths, seed=8).epoch(4)]
    calls = []

    def counting(examples):
        calls.append(1)
        return _collate(examples)

    resumed = BucketBatches(_examples(lengths), 3, lambda e: e[1], counting, seed=7)
    assert [b["index"].tolist() for b in resumed.epoch(4, start=5)] == first[5:]
    assert len(calls) == len(first) - 5  # the 5 skipped batches were never collated


def test_an_epoch_leaves_the_global_rng_alone():
    """Dropout draws from the global RNG; a resumed run must draw the same numbers."""
    batches = _batches([3, 1, 4, 1, 5, 9, 2], workers=0)
    torch.manual_seed(0)
    list(batches.epoch(0, start=1))
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))


def test_pad_features_pads_floats_and_returns_lengths():
    feats = [torch.arange(3 * 5, dtype=torch.float32).view(3, 5), torch.ones(7, 5),
             torch.full((1, 5), 2.0)]
    padded, lengths = pad_features(feats, value=-1.0)
    assert padded.shape == (3, 7, 5) and padded.dtype == torch.float32
    assert lengths.tolist() == [3, 7, 1]
    assert torch.equal(padded[0, :3], feats[0]) and (padded[0, 3:] == -1).all()
    assert torch.equal(padded[2, 0], feats[2][0]) and (padded[2, 1:] == -1).all()
    with pytest.raises(SeqkitError, match="same F"):
        pad_features([torch.ones(3, 5), torch.ones(2, 4)])
    with pytest.raises(SeqkitError, match="empty"):
        pad_features([])


def test_pad_ids():
    ids, lengths = pad([[4, 5, 6], [7]], pad_id=0)
    assert ids.tolist() == [[4, 5, 6], [7, 0, 0]] and lengths.tolist() == [3, 1]


def test_stream_shards_are_the_ranks_own_rows():
    ids = torch.arange(3 * 7 * 2 + 1)
    stream = StreamBatches(ids, 6, 7)
    whole = list(stream.epoch(0))
    for rank in range(3):
        for (x, y), (wx, wy) in zip(stream.epoch(0, rank=rank, world=3), whole):
            assert torch.equal(x, wx[rank::3]) and torch.equal(y, wy[rank::3])
    with pytest.raises(SeqkitError, match="batch-size"):
        list(StreamBatches(ids, 2, 7).epoch(0, rank=0, world=3))


def test_typed_fields_replace_the_meta_bag():
    stream = StreamBatches(torch.arange(50), 2, 5, facts={"floor_ppl": 3.0}, context="ctx")
    assert stream.facts == {"floor_ppl": 3.0} and stream.context == "ctx"
    assert not hasattr(stream, "meta")  # no bag for plugins to read and copy


def test_draws_give_each_batch_of_each_epoch_its_own_generator_in_workers_too():
    """Augmentation draws afresh every epoch even where the batches repeat (a data set smaller
    than one pool), the same for the same epoch (a resumed run), the same in workers."""
    def drawing(examples, rng):
        return torch.tensor([rng.random() for _ in examples])

    lengths = [3, 1, 4, 1, 5, 9]  # one pool: the same batches every epoch
    loop = BucketBatches(_examples(lengths), 2, lambda e: e[1], drawing, draws=True)
    workers = BucketBatches(_examples(lengths), 2, lambda e: e[1], drawing, draws=True,
                            workers=1)
    assert sorted(map(sorted, loop.plan(0))) == sorted(map(sorted, loop.plan(1)))
    first, second = torch.cat(list(loop.epoch(0))), torch.cat(list(loop.epoch(1)))
    assert len(set(first.tolist()) | set(second.tolist())) == 12  # nothing drawn twice
    assert torch.equal(torch.cat(list(loop.epoch(1))), second)
    assert torch.equal(torch.cat(list(workers.epoch(1))), second)
    assert torch.equal(torch.cat(list(loop.epoch(1, start=1))), second[2:])
