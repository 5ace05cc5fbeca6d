"""--train.ema: validation scores, and the run keeps, an exponential moving average of the
weights; --resume carries it on exactly."""
import dataclasses
import json

import torch
from safetensors.torch import load_file
from torch import nn

from seqkit.averaging import warmed_decay, weight_average
from seqkit.checkpoint import read_state
from seqkit.cli import main
from seqkit.data import Source
from seqkit.jobs import train
from seqkit.task import get_task


def test_the_average_follows_the_warmed_up_recurrence_and_copies_counters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = weight_average(model, 0.5)
    history = []
    for _ in range(6):
        with torch.no_grad():
            model[0].weight.add_(torch.randn(4, 3))
        model(torch.randn(5, 3))  # moves the batch-norm statistics and their counter
        average.update_parameters(model)
        history.append((model[0].weight.clone(), model[1].running_mean.clone()))
    weight, mean = history[0]  # the first update copies
    for n, (w, m) in enumerate(history[1:], start=1):
        d = warmed_decay(0.5, n)
        weight, mean = d * weight + (1 - d) * w, d * mean + (1 - d) * m
    torch.testing.assert_close(average.module[0].weight, weight)
    torch.testing.assert_close(average.module[1].running_mean, mean)
    assert int(average.module[1].num_batches_tracked) == 6  # copied, not averaged
    assert warmed_decay(0.999, 0) == 0.1 and warmed_decay(0.999, 10**6) == 0.999
    assert weight_average(model, 0.0) is None


def test_the_run_keeps_and_scores_the_average_and_it_learned(tmp_path, tiny_lm):
    """The LM's embedding after every step, recorded through its loss, averaged by hand, is
    what the run saves; the checkpoint keeps the raw weights for training on."""
    task = get_task("lm")
    seen, scored = [], []

    def recording_loss(model, batch, state):
        seen.append(model.embed.weight.detach().clone())  # the weights after len(seen)-1 steps
        return task.loss(model, batch, state)

    def recording_evaluate(model, batches, config, assets):
        scored.append(model.embed.weight.detach().clone())
        return task.evaluate(model, batches, config, assets)

    spy = dataclasses.replace(task, loss=recording_loss, evaluate=recording_evaluate)
    run = tmp_path / "run"
    steps = 60
    metrics = train(spy, tiny_lm(max_steps=steps, epochs=1, ema=0.9), Source("builtin"), run,
                    quiet=True)
    raw = load_file(str(run / "checkpoint" / "model.safetensors"))["embed.weight"]
    after = seen[1:] + [raw]  # the weights after steps 1..60
    expected = after[0]
    for n, w in enumerate(after[1:], start=1):
        d = warmed_decay(0.9, n)
        expected = d * expected + (1 - d) * w
    kept = load_file(str(run / "model.safetensors"))["embed.weight"]
    torch.testing.assert_close(kept, expected)
    torch.testing.assert_close(scored[0], expected)  # validation scored the average
    assert not torch.allclose(kept, raw)
    assert metrics["valid_ppl"] < 0.5 * metrics["valid_unigram_ppl"], metrics


def _tensors(path):
    return {**load_file(str(path / "model.safetensors")),
            **{f"average.{k}": v for k, v in read_state(path / "checkpoint" / "state.pt")
               ["average"].items()}}


def test_resume_carries_the_average_on_exactly(tmp_path):
    common = ["train", "--task", "lm", "--seed", "3", "--train.schedule", "plateau",
              "--hidden-size", "24", "--embed-size", "24", "--num-layers", "1",
              "--train.batch-size", "20", "--train.bptt", "35", "--train.ema", "0.9",
              "--train.eval-every", "0"]
    assert main(common + ["--out", str(tmp_path / "a"), "--max-steps", "40"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--max-steps", "15"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--max-steps", "40", "--resume"]) == 0
    a, b = _tensors(tmp_path / "a"), _tensors(tmp_path / "b")
    assert a.keys() == b.keys() and "average.n_averaged" in a
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_a_run_saved_without_an_average_resumes_with_one_from_its_weights(tmp_path):
    common = ["train", "--task", "lm", "--hidden-size", "24", "--embed-size", "24",
              "--num-layers", "1", "--out", str(tmp_path / "run")]
    assert main(common + ["--max-steps", "10"]) == 0
    assert "average" not in read_state(tmp_path / "run" / "checkpoint" / "state.pt")
    assert main(common + ["--max-steps", "20", "--resume", "--train.ema", "0.99"]) == 0
    state = read_state(tmp_path / "run" / "checkpoint" / "state.pt")
    assert int(state["average"]["n_averaged"]) == 11  # restarted at step 10, then 10 steps
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["train"]["ema"] == 0.99
