"""Config overrides: command line over file over defaults, with clear errors for typos."""
import dataclasses
import math

import pytest
import torch

from seqkit.cli import _parser, _task_config
from seqkit.config import (TrainConfig, added, bounded, from_dict, read_config_file,
                           saved_defaults, validate)
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
    """tyro rejects unknown options itself (no flag list of ours); seqkit keeps it one line."""
    from seqkit.cli import main

    cases = [(["--hiden-size", "3"], "did you mean --hidden-size?"),
             (["--max-step", "3"], "max-steps?"),
             (["--resum"], "did you mean --resume?"),  # a core flag, which tyro does not know
             (["--train.bptt", "x"], "--train.bptt")]
    for argv, needle in cases:
        assert main(["train", "--task", "lm", "--out", "x", *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.startswith("seqkit: error: "), err
        assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("suffix,text,field,expected", [
    (".yaml", "train:\n  lr: 1e-3\n", "lr", 0.001),  # YAML 1.1 reads 1e-3 as a string
    (".toml", "[train]\nlr = 1\n", "lr", 1.0),  # an int for a float
    (".toml", "[train]\nepochs = 3.0\n", "epochs", 3),  # a whole float for an int
    (".yaml", "train:\n  max_steps: 2e3\n", "max_steps", 2000),
])
def test_unambiguous_values_are_coerced(tmp_path, suffix, text, field, expected):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    value = getattr(_config(["--config", str(path)]).train, field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text,message", [
    ('[train]\nlr = "fast"\n', "train.lr must be a number, got 'fast'"),
    ("[train]\nepochs = 2.5\n", "train.epochs must be a whole number, got 2.5"),
    ("[train]\nbf16 = 1\n", "train.bf16 must be true or false, got 1"),
    ('[train]\noptimizer = "adma"\n', "did you mean 'adam'?"),
    ('cell = 3\n', "cell must be one of rnn, gru, lstm, got 3"),
    ("train = 5\n", "'train' must be a table of settings"),
    ("[train]\nbatch_size = 0\n", "train.batch_size must be >= 1, got 0"),
    ("[train]\nlr = nan\n", "train.lr must be a finite number"),
    ('[train]\ndevice = "gpu"\n', "train: device must be auto, cpu, cuda or cuda:N"),
])
def test_wrong_types_and_ranges_in_a_file_name_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SeqkitError) as info:
        _config(["--config", str(path)])
    assert message in str(info.value) and "bad.toml" in str(info.value)


@pytest.mark.parametrize("argv,message", [
    (["--train.batch-size", "0"], "train.batch_size must be >= 1, got 0"),
    (["--train.bptt", "0"], "train.bptt must be >= 1, got 0"),
    (["--train.lr", "0"], "train.lr must be > 0, got 0.0"),
    (["--train.lr", "nan"], "train.lr must be a finite number"),
    (["--train.momentum", "1"], "train.momentum must be in [0, 1), got 1.0"),
    (["--train.epochs", "0"], "train.epochs must be >= 1"),
    (["--train.log-every", "0"], "train.log_every must be >= 1"),
    (["--train.clip", "-1"], "train.clip must be >= 0"),
    (["--max-time", "-5"], "train.max_time must be >= 0"),  # a core flag, checked the same
    (["--seed", "-1"], "train.seed must be >= 0"),
])
def test_out_of_range_options_name_the_field(argv, message, capsys):
    from seqkit.cli import main

    assert main(["train", "--task", "lm", "--out", "never-written", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqkit: error: ") and message in err, err
    assert len(err.splitlines()) == 1


def test_every_train_field_declares_its_range():
    from seqkit.testing import check_options

    check_options(TrainConfig, every_number_bounded=True)
    with pytest.raises(SeqkitError, match="warmup_steps must be >= 0"):
        validate(TrainConfig(warmup_steps=-1))


@dataclasses.dataclass
class _Inner:
    """A nested table with a rule across two fields."""

    low: int = bounded(1, ">= 0")  # lower end
    high: int = bounded(3, "<= 9")  # upper end

    def check(self) -> None:
        if self.low > self.high:
            raise SeqkitError(f"low ({self.low}) must not exceed high ({self.high})")


@dataclasses.dataclass
class _Options:
    """A plugin's options, declared through seqkit.config.bounded."""

    top_p: float = bounded(1.0, "(0, 1]")  # nucleus mass
    rate: float = bounded(0.5, "[0, 1)")  # a probability that must stay below 1
    name: str = "x"  # free text
    inner: _Inner = dataclasses.field(default_factory=_Inner)  # nested


@pytest.mark.parametrize("changes,message", [
    ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
    ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
    ({"rate": 1.0}, "rate must be in [0, 1), got 1.0"),
    ({"rate": -0.1}, "rate must be in [0, 1)"),
    ({"name": 3}, "name must be text, got 3"),
    ({"inner": _Inner(low=-1)}, "inner.low must be >= 0, got -1"),
    ({"inner": _Inner(high=10)}, "inner.high must be <= 9, got 10"),
    ({"inner": _Inner(low=5, high=4)}, "inner: low (5) must not exceed high (4)"),
    ({"inner": {"low": 1}}, "inner must be a table of _Inner settings"),
])
def test_declared_ranges_and_check_methods_are_enforced(changes, message):
    with pytest.raises(SeqkitError) as info:
        validate(dataclasses.replace(_Options(), **changes))
    assert str(info.value) == message or message in str(info.value), str(info.value)


def test_range_ends_are_open_or_closed_as_declared():
    assert validate(_Options(top_p=1.0, rate=0.0, inner=_Inner(0, 9))).top_p == 1.0
    coerced = validate(_Options(top_p=1)).top_p
    assert coerced == 1.0 and type(coerced) is float
    with pytest.raises(SeqkitError, match="--top-p must be"):
        validate(_Options(top_p=0.0), flags=True)  # named as the command-line flag
    with pytest.raises(ValueError, match="malformed range rule"):
        bounded(1, "at least 1")


def test_check_config_catches_bad_declarations():
    from seqkit.testing import check_options

    check_options(_Options, every_number_bounded=True)

    @dataclasses.dataclass
    class OutOfRange:
        """Defaults that break their own rule."""

        size: int = bounded(0, ">= 1")  # must be positive

    @dataclasses.dataclass
    class Unbounded:
        """A number without a rule."""

        size: int = 3  # anything goes

    with pytest.raises(AssertionError, match="fail their own checks: size must be >= 1"):
        check_options(OutOfRange)
    check_options(Unbounded)
    with pytest.raises(AssertionError, match="Unbounded.size declares no range"):
        check_options(Unbounded, every_number_bounded=True)


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


@dataclasses.dataclass
class _Later:
    width: int = 3
    gate: bool = added(True, before=False)


@dataclasses.dataclass
class _Saved:
    size: int = 5
    mode: str = added("new", before="old")
    inner: _Later = dataclasses.field(default_factory=_Later)


def test_a_saved_config_without_an_added_setting_reads_as_before_it_existed():
    assert _Saved() == _Saved(5, "new", _Later(3, True))  # new configs: the new defaults
    assert saved_defaults(_Saved) == _Saved(5, "old", _Later(3, False))
    saved = {"size": 7, "inner": {"width": 4}}  # written before mode and gate existed
    assert from_dict(_Saved, saved, base=saved_defaults(_Saved)) == _Saved(7, "old",
                                                                          _Later(4, False))
    later = {"size": 7, "mode": "new", "inner": {"width": 4, "gate": True}}
    assert from_dict(_Saved, later, base=saved_defaults(_Saved)) == _Saved(7, "new",
                                                                          _Later(4, True))
