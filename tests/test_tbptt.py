"""Truncated BPTT: the values of the state flow from chunk to chunk, the carry resets at the end
of an epoch, and evaluation carries the state as training does."""
import dataclasses

import torch

from seqkit.batching import StreamBatches
from seqkit.data import Source
from seqkit.decoder import Decoder
from seqkit.decoding import map_state
from seqkit.jobs import train
from seqkit.task import TaskData, get_task
from seqkit.train import evaluate, stream_evaluate

B, T, CHUNKS, V = 3, 7, 5, 11  # 5 chunks of 7 steps in 3 streams per epoch


def _leaves(state) -> list[torch.Tensor]:
    found = []
    map_state(lambda t: found.append(t.detach().clone()) or t, state)
    return found


def _spied_lm(tiny_lm, calls: list):
    """The lm task on a random stream of 3 x 5 chunks, recording the state every training
    chunk receives and the one it returns."""
    task = get_task("lm")
    ids = torch.randint(4, V, (B * T * CHUNKS + 1,), generator=torch.Generator().manual_seed(0))

    def prepare(config, source, assets):
        data = task.prepare(config, source, assets)  # for the tokenizer
        stream = StreamBatches(ids, B, T)
        return TaskData(data.assets, {"train": stream, "valid": stream})

    def loss(model, batch, state):
        value, items, new = task.loss(model, batch, state)
        calls.append((None if state is None else _leaves(state), _leaves(new)))
        return value, items, new

    config = tiny_lm(batch_size=B, bptt=T, epochs=3, lr=1.0)
    return dataclasses.replace(task, prepare=prepare, loss=loss), config


def test_each_chunk_starts_from_the_values_the_previous_chunk_ended_with(tmp_path, tiny_lm):
    calls = []
    task, config = _spied_lm(tiny_lm, calls)
    train(task, config, Source("builtin"), tmp_path / "run", quiet=True)
    assert len(calls) == 3 * CHUNKS
    for i in range(1, len(calls)):
        received, _ = calls[i]
        if i % CHUNKS == 0:
            continue  # a new epoch: checked below
        ended = calls[i - 1][1]
        assert received is not None and len(received) == len(ended)
        for got, want in zip(received, ended):
            assert torch.equal(got, want), f"chunk {i} did not start where chunk {i - 1} ended"
            assert got.abs().sum() > 0


def test_the_carry_resets_at_the_end_of_every_epoch(tmp_path, tiny_lm):
    calls = []
    task, config = _spied_lm(tiny_lm, calls)
    train(task, config, Source("builtin"), tmp_path / "run", quiet=True)
    fresh = [i for i, (received, _) in enumerate(calls) if received is None]
    assert fresh == [0, CHUNKS, 2 * CHUNKS]


def test_lm_evaluation_carries_the_state_across_chunks(tiny_lm):
    """Scored in chunks of 3 with the state carried, a text scores as it does in one piece;
    with the state dropped at each chunk it would not."""
    torch.manual_seed(1)
    task, config = get_task("lm"), tiny_lm()
    model = Decoder(V, 8, 8, num_layers=2).eval()
    ids = torch.randint(0, V, (B * 21 + 1,))
    whole = evaluate(task, model, StreamBatches(ids, B, 21), config, None)
    chunked = evaluate(task, model, StreamBatches(ids, B, 3), config, None)
    assert abs(chunked["loss"] - whole["loss"]) < 1e-5
    assert chunked["tokens"] == whole["tokens"] == B * 21

    def forgetful(model, batch, state):  # what evaluation without the carry would compute
        return task.loss(model, batch, None)

    with torch.no_grad():
        reset = stream_evaluate(forgetful, model, StreamBatches(ids, B, 3))
    assert abs(reset["loss"] - whole["loss"]) > 1e-4  # so the check above can fail
