"""What ``seqkit.jobs.train`` refuses before it writes anything (issue 11, items 1 and 2)."""
from __future__ import annotations

import dataclasses
import json
import math
import shutil

import pytest
import torch

from seqkit.cli import main
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.jobs import evaluate_run, train
from seqkit.task import get_task


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_resume_that_would_build_another_model_is_refused_and_the_run_stays_usable(
        lm_run, tiny_lm, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(lm_run, run)
    before = _snapshot(run)
    bigger = dataclasses.replace(tiny_lm(), hidden_size=64)
    with pytest.raises(SeqkitError, match=r"hidden_size \(48 -> 64\)"):
        train(get_task("lm"), bigger, Source("builtin"), run, resume=True, quiet=True)
    assert _snapshot(run) == before  # config.json untouched: eval and predict still work
    assert evaluate_run(run, Source("builtin"), "test")["ppl"] > 1


def test_a_resume_may_change_training_settings(lm_run, tiny_lm, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(lm_run, run)
    longer = tiny_lm(epochs=9, lr=5.0)
    metrics = train(get_task("lm"), longer, Source("builtin"), run, resume=True, quiet=True)
    assert metrics["epochs"] == 9


def test_a_run_saved_before_a_setting_existed_resumes(lm_run, tiny_lm, tmp_path):
    """A key missing from config.json reads as the value the run had (here the default), as
    ``load`` reads it: it is not a change of model settings."""
    run = tmp_path / "run"
    shutil.copytree(lm_run, run)
    meta = json.loads((run / "config.json").read_text())
    default = dataclasses.asdict(get_task("lm").config())
    assert meta["config"]["cell"] == default["cell"]
    del meta["config"]["cell"]  # as a seqkit from before the setting wrote it
    (run / "config.json").write_text(json.dumps(meta))
    metrics = train(get_task("lm"), tiny_lm(epochs=9), Source("builtin"), run, resume=True,
                    quiet=True)
    assert metrics["epochs"] == 9


def test_a_folder_that_is_not_a_run_is_refused_untouched(tiny_lm, tmp_path):
    folder = tmp_path / "mine"
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "notes.txt").write_text("keep me")
    (folder / "metrics.jsonl").write_text("my own log\n")
    before = _snapshot(folder)
    with pytest.raises(SeqkitError, match="not a seqkit run"):
        train(get_task("lm"), tiny_lm(), Source("builtin"), folder, quiet=True)
    assert _snapshot(folder) == before


def test_an_empty_folder_is_a_fine_out(tiny_lm, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    train(get_task("lm"), tiny_lm(epochs=1), Source("builtin"), folder, quiet=True)
    assert (folder / "model.safetensors").is_file()


def test_a_resume_without_data_reads_the_data_the_run_recorded(tiny_lm, tmp_path, capsys):
    """Resuming with no --data trains and judges on the run's own folder, not the built-in
    data (which would replace the kept weights by a score on other data)."""
    import json
    import random

    rng = random.Random(0)
    words = "the a cat dog sat ran on under mat rug".split()
    folder = tmp_path / "text"
    folder.mkdir()
    for split, lines in (("train", 400), ("valid", 60)):
        text = "".join(" ".join(rng.choice(words) for _ in range(6)) + "\n"
                       for _ in range(lines))
        (folder / f"{split}.txt").write_text(text)
    run = tmp_path / "run"
    first = train(get_task("lm"), tiny_lm(epochs=1), Source("folder", path=folder), run,
                  quiet=True)
    assert json.loads((run / "config.json").read_text())["data"] == str(folder.resolve())
    again = train(get_task("lm"), tiny_lm(epochs=2), None, run, resume=True)
    assert "resuming on the run's own data" in capsys.readouterr().out
    assert again["valid_tokens"] == first["valid_tokens"]  # the folder's valid split
    builtin = evaluate_run(run, Source("builtin"), "valid")["tokens"]
    assert builtin != first["valid_tokens"]  # the built-in data would have shown
    # seqkit eval without --data scores the run's own data too; --data builtin, the built-in
    assert main(["eval", str(run), "--split", "valid"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tokens"] == first["valid_tokens"]
    assert main(["eval", str(run), "--split", "valid", "--data", "builtin"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tokens"] == builtin
    shutil.rmtree(folder)  # the data moved away: eval says so, and how to go on
    assert main(["eval", str(run)]) == 2
    assert "trained on " + str(folder.resolve()) in capsys.readouterr().err
    assert main(["eval", str(run), "--split", "valid", "--data", "builtin"]) == 0
    with pytest.raises(SeqkitError, match="not there any more; give --data"):  # and a resume
        train(get_task("lm"), tiny_lm(epochs=3), None, run, resume=True, quiet=True)


def test_a_cli_resume_continues_with_the_runs_own_settings(tmp_path, capsys):
    """``seqkit train --task T --out RUN --resume`` needs none of the first command's options:
    the run's config is the base, and only what is given now changes it."""
    import json

    from seqkit.cli import main

    run = tmp_path / "run"
    first = ["train", "--task", "lm", "--out", str(run), "--embed-size", "13", "--hidden-size",
             "17", "--num-layers", "1", "--train.epochs", "1", "--train.bptt", "9",
             "--train.batch-size", "8", "--train.threads", "1", "--max-steps", "6"]
    assert main(first) == 0
    assert main(["train", "--task", "lm", "--out", str(run), "--resume", "--max-steps", "9"]) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["hidden_size"], config["train"]["bptt"], config["train"]["max_steps"]) == (
        17, 9, 9)
    assert main(["train", "--task", "lm", "--out", str(run), "--resume", "--hidden-size",
                 "19"]) == 2
    assert "hidden_size (17 -> 19)" in capsys.readouterr().err


def _failing_loss(task, at_step):
    """The task's loss, raising a SeqkitError (a bad example met while training) on call
    ``at_step``."""
    calls = []

    def loss(model, batch, state):
        calls.append(1)
        if len(calls) == at_step:
            raise SeqkitError("a bad example in the training data")
        return task.loss(model, batch, state)

    return dataclasses.replace(task, loss=loss)


def test_a_run_that_failed_before_its_first_checkpoint_is_started_over(tiny_lm, tmp_path,
                                                                      capsys):
    """Issue 11 item 4: neither a dead end for ``train`` nor for ``--resume``: the resume
    starts it over, and ends with the weights of a run that never failed."""
    from safetensors.torch import load_file

    task, config = get_task("lm"), tiny_lm(max_steps=7, epochs=1, log_every=1)
    clean = tmp_path / "clean"
    train(task, config, Source("builtin"), clean, quiet=True)
    run = tmp_path / "run"
    with pytest.raises(SeqkitError, match="a bad example"):
        train(_failing_loss(task, 4), config, Source("builtin"), run, quiet=True)
    assert (run / "config.json").is_file() and not (run / "checkpoint").exists()
    with pytest.raises(SeqkitError, match="continue it with --resume"):
        train(task, config, Source("builtin"), run, quiet=True)
    train(task, config, None, run, resume=True)
    assert "stopped before its first checkpoint: starting it over" in capsys.readouterr().out
    got, want = load_file(run / "model.safetensors"), load_file(clean / "model.safetensors")
    assert all(torch.equal(got[k], want[k]) for k in want)
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    assert steps == sorted(steps)  # one attempt's log, not two


def test_what_a_kill_leaves_half_written_does_not_block_a_new_run(tiny_lm, tmp_path):
    """A SIGKILL inside the first write leaves only a temporary file: the folder is still a
    fine --out (it holds no run and nothing of the user's)."""
    folder = tmp_path / "run"
    (folder / "checkpoint.new").mkdir(parents=True)
    (folder / f".config.json.tmp-{4242}").write_text('{"ta')
    train(get_task("lm"), tiny_lm(max_steps=3, epochs=1), Source("builtin"), folder, quiet=True)
    assert (folder / "config.json").is_file()


def _blowing_up_loss(task, at_step):
    """The task's loss, whose gradient becomes NaN on call ``at_step`` (a step that blows up
    between two loss checks: the weights turn NaN after it, the loss only one step later)."""
    calls = []

    def loss(model, batch, state):
        calls.append(1)
        if len(calls) == at_step:
            next(model.parameters()).register_hook(lambda grad: torch.full_like(grad, math.nan))
        return task.loss(model, batch, state)

    return dataclasses.replace(task, loss=loss)


def test_a_diverged_run_saves_nothing_after_it_blew_up(tiny_lm, tmp_path):
    """Issue 11 item 4: the divergence message says the saved files are those from before,
    and it is true: with a checkpoint after every step, none holds inf or NaN."""
    from safetensors.torch import load_file

    run = tmp_path / "run"
    config = tiny_lm(clip=0.0, eval_every=1, max_steps=9, epochs=1)
    with pytest.raises(SeqkitError, match=r"inf or NaN at step 5: training diverged and "
                                          r"stopped; the run's saved weights and resume state"):
        train(_blowing_up_loss(get_task("lm"), 5), config, Source("builtin"), run, quiet=True)
    for path in (run / "model.safetensors", run / "checkpoint" / "model.safetensors"):
        assert all(torch.isfinite(t).all() for t in load_file(path).values()), path
    state = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    assert state["progress"]["step"] == 4  # the last good step
