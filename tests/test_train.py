"""fit(): truncated BPTT cuts the graph at every chunk boundary; --resume continues exactly."""
import dataclasses
import itertools
import json
import math

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
    with pytest.raises(SeqkitError, match="(?i)lower --train.lr"):
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


def test_a_tie_on_the_selection_metric_keeps_the_lower_validation_loss(tmp_path, tiny_lm):
    """A score that reaches its best at the second of five validations and holds it there
    keeps the weights of the tie with the lowest validation loss (the fourth), not the first
    to reach it."""
    task = get_task("lm")
    scores = itertools.chain([0.1, 0.9, 0.9, 0.9, 0.9], itertools.repeat(0.0))
    losses = itertools.chain([5.0, 4.0, 3.0, 1.0, 2.0], itertools.repeat(9.0))
    snapshots = []

    def scored(model, batches, config, assets):
        metrics = task.evaluate(model, batches, config, assets)
        snapshots.append(model.embed.weight.detach().clone())
        return {**metrics, "score": next(scores), "loss": next(losses)}

    spy = dataclasses.replace(task, evaluate=scored, select="score", select_max=True)
    run = tmp_path / "run"
    train(spy, tiny_lm(epochs=5, eval_every=0), Source("builtin"), run, quiet=True)
    kept = load_file(str(run / "model.safetensors"))["embed.weight"]
    assert torch.equal(kept, snapshots[3])
    assert not any(torch.equal(kept, s) for i, s in enumerate(snapshots[:5]) if i != 3)


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


def test_final_and_cli_evaluation_load_the_run_on_the_training_device(tmp_path, tiny_lm,
                                                                       monkeypatch):
    import seqkit.jobs as jobs
    from seqkit import dist

    asked = []
    real_load = jobs.load

    def recording_load(path, device=None):
        asked.append(device)
        return real_load(path, device)

    monkeypatch.setattr(jobs, "load", recording_load)
    config = tiny_lm(max_steps=3, epochs=1, device="cpu")
    train(get_task("lm"), config, Source("builtin"), tmp_path / "run", quiet=True)
    jobs.evaluate_run(tmp_path / "run", Source("builtin"), "valid")
    assert asked == [dist.pick_device("cpu")] * 2  # not None, which loads on the CPU always


def test_progress_resumes_from_old_checkpoints_and_refuses_unknown_ones():
    from seqkit.train import Progress

    old = {"step": 15, "epoch": 0, "batch": 15, "elapsed": 2.5, "best": float("inf")}
    progress = Progress.from_dict(old)  # written before Progress existed: no best_loss
    assert (progress.step, progress.batch, progress.best_loss) == (15, 15, None)
    assert Progress.from_dict(progress.to_dict()) == progress
    with pytest.raises(SeqkitError, match="start a new run"):
        Progress.from_dict({"step": 1, "epoch": 0, "batch": 1, "position": 7})
    with pytest.raises(SeqkitError, match="start a new run"):
        Progress.from_dict([1, 2, 3])


def test_the_resume_state_is_also_saved_on_the_clock(tmp_path, tiny_lm, monkeypatch):
    import seqkit.train as training

    saved = []
    real = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint",
                        lambda *a: saved.append(a[4]["step"]) or real(*a))
    monkeypatch.setattr(training.Trainer, "checkpoint_every", 0.0)
    train(get_task("lm"), tiny_lm(max_steps=5, epochs=1), Source("builtin"), tmp_path / "run",
          quiet=True)
    assert saved[:4] == [1, 2, 3, 4]  # after every step, as the interval is 0 s


SIGTERM_SCRIPT = """
import dataclasses, sys
import torch
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.jobs import train
from seqkit.task import get_task
torch.set_num_threads(1)
task = get_task("lm")
config = task.config()
config = dataclasses.replace(config, embed_size=16, hidden_size=16, num_layers=1,
    train=dataclasses.replace(config.train, batch_size=4, bptt=10, bf16=False, log_every=1,
                              epochs=1000, eval_every=0))
try:
    train(task, config, Source("builtin"), sys.argv[1], quiet=True)
except SeqkitError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
"""


def test_sigterm_saves_the_resume_state_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(run)],
                            stderr=subprocess.PIPE, text=True)
    log = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    seen = len(log.read_text().splitlines())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    assert "resume state is saved" in err
    assert f"seqkit train --task lm --out {run} --resume" in err  # a command that continues it
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    assert state["progress"]["step"] >= seen >= 3  # saved where it stopped, not at step 0


def test_a_partial_last_line_of_the_metrics_log_is_skipped_and_repaired(tmp_path):
    from seqkit.metrics_log import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"split": "train", "step": 5, "loss": 2.0}\n{"split": "tra')  # killed
    assert MetricsLog(path, enabled=False).records() == [{"split": "train", "step": 5,
                                                          "loss": 2.0}]
    log = MetricsLog(path)  # a resumed run appends after the repair
    log.write(split="train", step=10, loss=1.5)
    assert [r["step"] for r in log.records()] == [5, 10]
    assert all(json.loads(line) for line in path.read_text().splitlines())
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(SeqkitError, match="line 2"):
        MetricsLog(path, enabled=False).records()


def test_the_learning_curve_draws_the_floor_the_task_names(tmp_path, tiny_lm, monkeypatch):
    """The core knows no metric names: it asks the task's loss_floor of each validation."""
    import seqkit.metrics_log as metrics_log

    task = get_task("lm")
    asked, drawn = [], []

    def floor(metrics):
        asked.append(metrics)
        return task.loss_floor(metrics)

    import matplotlib.axes

    real_axhline = matplotlib.axes.Axes.axhline
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline",
                        lambda self, y, *a, **k: drawn.append(y) or real_axhline(self, y, *a, **k))
    spy = dataclasses.replace(task, loss_floor=floor)
    train(spy, tiny_lm(max_steps=4, epochs=1), Source("builtin"), tmp_path / "run", quiet=True)
    assert asked and all("floor_ppl" in m for m in asked)
    assert drawn == [pytest.approx(math.log(asked[-1]["floor_ppl"]))]
    assert task.loss_floor({"loss": 1.0}) is None  # no known floor (a user's own text)
    metrics_log.plot_curve([{"split": "valid", "step": 1, "loss": 2.0}], tmp_path / "c.png")


def test_a_run_trained_on_a_gpu_is_scored_on_the_cpu_where_there_is_none(monkeypatch):
    import seqkit.jobs as jobs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert jobs._run_device({"train": {"device": "cuda:1"}}) == torch.device("cpu")
    assert jobs._run_device({"train": {"device": "cpu"}}) == torch.device("cpu")
    assert jobs._run_device({}) == torch.device("cpu")  # auto, without a GPU
