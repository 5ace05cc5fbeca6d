"""Config overrides: command line over file over defaults, with clear errors for typos."""
import dataclasses
import math

import pytest
import torch

from seqkit.cli import _parser, _task_config
from seqkit.config import TrainConfig, flag_names, from_dict, read_config_file
from seqkit.errors import SeqkitError
from seqkit.task import get_task


def _config(argv, tmp_path=None):
    args, rest = _parser().parse_known_args(["train", "--task", "lm", "--out", "x", *argv])
    return _task_config(get_task("lm"), args, rest)


def test_command_line_overrides_fields_and_nested_train_fields():
    config = _config(["--hidden-size", "33", "--train.lr", "0.5", "--train.no-bf16",
                      "--cell", "gru", "--max-steps", "7"])
    assert (config.hidden_size, config.cell) == (33, "gru")
    assert (config.train.lr, config.train.bf16, config.train.max_steps) == (0.5, False, 7)
    assert config.embed_size == get_task("lm").config().embed_size  # untouched


@pytest.mark.parametrize("suffix,text", [
    (".toml", "hidden_size = 21\n[train]\nlr = 3.0\nbatch_size = 5\n"),
    (".yaml", "hidden_size: 21\ntrain:\n  lr: 3.0\n  batch_size: 5\n"),
])
def test_file_then_command_line(tmp_path, suffix, text):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    config = _config(["--config", str(path), "--train.lr", "0.25", "--seed", "9"])
    assert (config.hidden_size, config.train.batch_size) == (21, 5)  # from the file
    assert (config.train.lr, config.train.seed) == (0.25, 9)  # the command line wins


def test_unknown_keys_in_a_file_name_the_closest(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nlearning_rate = 3.0\n")
    with pytest.raises(SeqkitError, match="train.learning_rate"):
        _config(["--config", str(path)])
    with pytest.raises(SeqkitError, match="did you mean 'hidden_size'"):
        from_dict(get_task("lm").config, {"hiden_size": 3})
    with pytest.raises(SeqkitError, match="cannot parse"):
        path.write_text("hidden_size = [")
        read_config_file(path)


def test_mistyped_option_suggests_the_closest(capsys):
    from seqkit.cli import main

    assert main(["train", "--task", "lm", "--out", "x", "--hiden-size", "3"]) == 2
    assert "did you mean --hidden-size" in capsys.readouterr().err
    assert main(["train", "--task", "lm", "--out", "x", "--max-step", "3"]) == 2
    assert "did you mean --max-steps" in capsys.readouterr().err


def test_flag_names_cover_nested_and_boolean_fields():
    flags = flag_names(get_task("lm").config)
    assert {"--train.max-steps", "--train.bf16", "--train.no-bf16", "--tie-weights"} <= set(flags)
    assert dataclasses.is_dataclass(TrainConfig)


@pytest.mark.parametrize("name, halfway", [("cosine", 0.5), ("linear", 0.5), ("constant", 1.0)])
def test_decaying_schedules_follow_the_steps_or_the_clock(name, halfway):
    """Cosine and linear decay reach zero at the step budget, or at max_time when that comes
    first; either budget alone halves the lr halfway (warm-up steps excluded)."""
    from seqkit.optim import Schedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=8.0)
    sched = Schedule(opt, TrainConfig(lr=8.0, schedule=name, warmup_steps=2), total_steps=10)
    assert sched.lr == pytest.approx(4.0)  # first warm-up step: half the rate
    for _ in range(7):
        sched.step()
    assert sched.lr == pytest.approx(8.0 * halfway)
    timed = Schedule(opt, TrainConfig(lr=8.0, schedule=name, max_time=60.0), total_steps=1000)
    timed.step(elapsed=30.0)
    assert timed.lr == pytest.approx(8.0 * halfway)
    quarter = {"cosine": 0.5 * (1 + math.cos(math.pi / 4)), "linear": 0.75, "constant": 1.0}
    timed.step(elapsed=15.0)
    assert timed.lr == pytest.approx(8.0 * quarter[name])  # tells cosine from linear
    timed.step(elapsed=90.0)
    assert timed.lr == pytest.approx(0.0 if name != "constant" else 8.0)
    resumed = Schedule(opt, TrainConfig(lr=8.0, schedule=name, max_time=60.0), total_steps=1000)
    timed.step(elapsed=30.0)  # a new, later budget would follow the clock again
    resumed.load_state_dict(timed.state_dict())
    assert resumed.lr == timed.lr == pytest.approx(8.0 * halfway)
