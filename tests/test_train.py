"""fit(): truncated BPTT cuts the graph at every chunk boundary; --resume continues exactly."""
import dataclasses
import itertools
import json

import pytest
import torch
from safetensors.torch import load_file

from seqkit.cli import main
from seqkit.data import Source
from seqkit.decoder import Decoder
from seqkit.errors import SeqkitError
from seqkit.jobs import train
from seqkit.task import get_task
from seqkit.train import repackage_state


def test_repackage_state_cuts_the_graph_but_keeps_the_values():
    decoder = Decoder(11, 6, 8, num_layers=2)
    _, state = decoder(torch.randint(0, 11, (3, 7)))
    assert all(s.grad_fn is not None for s in state["rnn"])
    cut = repackage_state(state)
    assert all(s.grad_fn is None and not s.requires_grad for s in cut["rnn"])
    assert all(torch.equal(a, b) for a, b in zip(cut["rnn"], state["rnn"]))


def test_gradient_stops_at_the_chunk_boundary():
    """Chunk 1 reads only token 1, chunk 2 only token 2: after the detach, chunk 2's loss gives
    no gradient to token 1's embedding, though its state came from it."""
    torch.manual_seed(0)
    decoder = Decoder(5, 4, 6)
    _, state = decoder(torch.full((3, 7), 1))
    logits, _ = decoder(torch.full((3, 7), 2), repackage_state(state))
    logits.sum().backward()
    assert decoder.embed.weight.grad[1].abs().sum() == 0
    assert decoder.embed.weight.grad[2].abs().sum() > 0
    decoder.zero_grad()
    logits, _ = decoder(torch.full((3, 7), 2), state)  # without the cut, it flows back
    logits.sum().backward()
    assert decoder.embed.weight.grad[1].abs().sum() > 0


def test_fit_hands_every_chunk_a_detached_state(tmp_path, tiny_lm):
    task = get_task("lm")
    seen = []

    def recording_loss(model, batch, state):
        if state is not None:
            seen.append(all(s.grad_fn is None for s in state["rnn"]))
        return task.loss(model, batch, state)

    spy = dataclasses.replace(task, loss=recording_loss)
    train(spy, tiny_lm(max_steps=12, epochs=1), Source("builtin"), tmp_path / "run", quiet=True)
    assert len(seen) >= 10 and all(seen)


def _weights(run_dir):
    return load_file(str(run_dir / "checkpoint" / "model.safetensors"))


def test_resume_ends_with_the_same_weights(tmp_path):
    """40 steps in one go == 15 steps, stop, then --resume to 40 (dropout on, so the RNG state
    must be restored too; an epoch ends and validation anneals the lr in between). The plateau
    schedule, because a cosine one would follow each run's own --max-steps budget."""
    common = ["train", "--task", "lm", "--seed", "3", "--train.schedule", "plateau",
              "--hidden-size", "24", "--embed-size", "24", "--num-layers", "1", "--dropout",
              "0.3", "--train.batch-size", "20", "--train.bptt", "35", "--train.log-every", "5"]
    assert main(common + ["--out", str(tmp_path / "a"), "--max-steps", "40"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--max-steps", "15"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--max-steps", "40", "--resume"]) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    records = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").open()]
    # the resumed run went on from step 15: a restart from 0 would log steps 5..15 twice
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(5, 41, 5))
    assert [r["step"] for r in records if r["split"] == "valid"] == [15, 33, 40]  # epoch end at 33


def test_non_finite_loss_stops_without_damaging_the_run(tmp_path, tiny_lm):
    task = get_task("lm")
    calls = []

    def diverging_loss(model, batch, state):
        value, items, state = task.loss(model, batch, state)
        calls.append(1)
        return (value * float("nan") if len(calls) > 10 else value), items, state

    run = tmp_path / "run"
    train(task, tiny_lm(max_steps=20), Source("builtin"), run, quiet=True)
    kept = ["model.safetensors", "checkpoint/model.safetensors", "checkpoint/state.pt"]
    saved = {name: (run / name).read_bytes() for name in kept}
    spy = dataclasses.replace(task, loss=diverging_loss)
    with pytest.raises(SeqkitError, match="lower --train.lr"):
        train(spy, tiny_lm(max_steps=60), Source("builtin"), run, resume=True, quiet=True)
    # best weights and the resume state are untouched: --resume can try again with a lower lr
    assert {name: (run / name).read_bytes() for name in kept} == saved


def test_kept_weights_are_the_best_by_the_tasks_selection_metric(tmp_path, tiny_lm):
    """A task that selects by a metric peaking at the second of four validations keeps the
    weights of that validation, not the lowest-loss (last) ones."""
    task = get_task("lm")
    scores = itertools.chain([0.1, 0.9, 0.5, 0.2], itertools.repeat(0.0))  # then final evals
    snapshots = []

    def scored(model, batches, config, assets):
        metrics = task.evaluate(model, batches, config, assets)
        snapshots.append(model.embed.weight.detach().clone())
        return {**metrics, "score": next(scores)}

    spy = dataclasses.replace(task, evaluate=scored, select="score", select_max=True)
    run = tmp_path / "run"
    train(spy, tiny_lm(epochs=4, eval_every=0), Source("builtin"), run, quiet=True)
    kept = load_file(str(run / "model.safetensors"))["embed.weight"]
    assert torch.equal(kept, snapshots[1]) and not torch.equal(kept, snapshots[-1])
    missing = dataclasses.replace(task, select="nonesuch")
    with pytest.raises(SeqkitError, match="nonesuch"):
        train(missing, tiny_lm(max_steps=5), Source("builtin"), tmp_path / "x", quiet=True)


def test_a_run_cut_by_max_time_ends_with_its_lr_decayed(tmp_path, tiny_lm):
    """With a linear schedule, --max-time sets the horizon: the run stops on the clock long
    before its epochs, and the lr it logged last is near zero, not the starting 20."""
    config = tiny_lm(epochs=10_000, max_time=4.0, log_every=1, schedule="linear")
    train(get_task("lm"), config, Source("builtin"), tmp_path / "run", quiet=True)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").open()]
    lrs = [r["lr"] for r in records if r["split"] == "train"]
    assert records[-1]["epoch"] < 10_000 and len(lrs) > 10
    assert lrs[0] > 15.0 and lrs[-1] < 0.1 * lrs[0]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # monotone decay
