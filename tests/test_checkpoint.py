"""Checkpoints: swapped in atomically, read back exactly, and every damaged one refused with a
message that says what the file is, never with PyTorch's advice to unpickle it anyway."""
import json
import os
import pickle
import random
import shutil
from pathlib import Path

import pytest
import torch

from seqkit.checkpoint import load_checkpoint, save_checkpoint
from seqkit.cli import main
from seqkit.config import TrainConfig
from seqkit.decoder import Decoder
from seqkit.errors import SeqkitError
from seqkit.optim import Schedule, build_optimizer
from seqkit.rundir import read_metrics

CPU = torch.device("cpu")


def _parts(seed: int = 0):
    """A tiny decoder (V=11, E=6, H=8) with Adam and a cosine schedule."""
    torch.manual_seed(seed)
    model = Decoder(11, 6, 8)
    config = TrainConfig(optimizer="adam", lr=0.01, schedule="cosine", warmup_steps=2)
    optimizer = build_optimizer(model, config)
    return model, optimizer, Schedule(optimizer, config, total_steps=20)


def _train(parts, steps: int) -> None:
    model, optimizer, schedule = parts
    for _ in range(steps):
        logits, _ = model(torch.randint(0, 11, (3, 7)))
        optimizer.zero_grad()
        logits.logsumexp(-1).mean().backward()
        optimizer.step()
        schedule.step()


def _save(folder: Path, parts, step: int) -> None:
    carry = {"rnn": (torch.full((3, 1, 8), float(step)),)}
    save_checkpoint(folder, *parts, {"step": step, "epoch": 0, "batch": step}, carry)


def _load(folder: Path) -> tuple[dict, object, tuple]:
    parts = _parts(seed=99)  # other weights than any saved ones
    progress, carry = load_checkpoint(folder, *parts, CPU)
    return progress, carry, parts


def test_a_checkpoint_restores_weights_optimiser_schedule_rng_and_carry(tmp_path):
    parts = _parts()
    _train(parts, 5)
    _save(tmp_path, parts, 5)
    expected_draw = torch.rand(4)
    progress, carry, (model, optimizer, schedule) = _load(tmp_path)
    assert torch.equal(torch.rand(4), expected_draw)  # the RNG continues where it was saved
    assert progress["step"] == 5 and torch.equal(carry["rnn"][0], torch.full((3, 1, 8), 5.0))
    for mine, saved in zip(model.state_dict().values(), parts[0].state_dict().values()):
        assert torch.equal(mine, saved)
    assert schedule.lr == parts[2].lr and schedule.lr != 0.01
    exp_avg = [s["exp_avg"] for s in optimizer.state_dict()["state"].values()]
    saved_avg = [s["exp_avg"] for s in parts[1].state_dict()["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(exp_avg, saved_avg)) and exp_avg


def _crash_on_rename_to(monkeypatch, name: str) -> None:
    """Make ``Path.rename`` onto ``name`` raise, as if the process died just before it."""
    real = Path.rename

    def rename(self, target):
        if Path(target).name == name:
            raise OSError(f"simulated crash before renaming onto {name}")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)


def test_a_crash_between_the_two_renames_resumes_from_checkpoint_old(tmp_path, monkeypatch):
    parts = _parts()
    _save(tmp_path, parts, 1)
    _train(parts, 2)
    with monkeypatch.context() as patch:
        _crash_on_rename_to(patch, "checkpoint")  # checkpoint -> .old done, .new -> not yet
        with pytest.raises(OSError, match="simulated crash"):
            _save(tmp_path, parts, 3)
        assert not (tmp_path / "checkpoint").exists()
        assert (tmp_path / "checkpoint.old").is_dir() and (tmp_path / "checkpoint.new").is_dir()
        assert _load(tmp_path)[0]["step"] == 1  # the complete previous checkpoint
        # the resumed run crashes in the same place again: a complete one must still be there
        with pytest.raises(OSError, match="simulated crash"):
            _save(tmp_path, parts, 4)
        assert _load(tmp_path)[0]["step"] == 1
    _save(tmp_path, parts, 5)  # the next save tidies up
    assert _load(tmp_path)[0]["step"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_crash_while_writing_leaves_the_last_checkpoint_and_a_leftover_new(tmp_path,
                                                                             monkeypatch):
    parts = _parts()
    _save(tmp_path, parts, 2)

    def dies_half_way(obj, path):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("simulated crash while writing state.pt")

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", dies_half_way)
        with pytest.raises(OSError, match="simulated crash"):
            _save(tmp_path, parts, 3)
    assert (tmp_path / "checkpoint.new" / "state.pt").is_file()  # the leftover
    assert _load(tmp_path)[0]["step"] == 2  # ignored: the last complete checkpoint is used
    _save(tmp_path, parts, 4)
    assert not (tmp_path / "checkpoint.new").exists() and _load(tmp_path)[0]["step"] == 4


def test_a_leftover_new_alone_is_not_resumed_from(tmp_path):
    parts = _parts()
    _save(tmp_path, parts, 1)
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.new")  # maybe incomplete: unknown
    with pytest.raises(SeqkitError, match="has no checkpoint to resume from"):
        _load(tmp_path)


class _Planted:
    """Unpickling this would run a function of the attacker's choice."""

    def __reduce__(self):
        return (os.getpid, ())


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    # seeded: about one draw in ten of os.urandom fails inside the unpickler another way, and
    # is then reported as damaged, which is as true but another message
    "random bytes": (lambda p: p.write_bytes(random.Random(0).randbytes(600)),
                     "not a seqkit checkpoint"),
    "empty": (lambda p: p.write_bytes(b""), "damaged, truncated or corrupt"),
    "truncated": (_truncated, "damaged, truncated or corrupt"),
    "torch.save({})": (lambda p: torch.save({}, p), "lacks optimizer, scheduler, progress"),
    "a list": (lambda p: torch.save([1, 2], p), "not a seqkit checkpoint"),
    "a planted object": (lambda p: torch.save({"optimizer": _Planted()}, p),
                         "not a seqkit checkpoint: it holds Python objects"),
    "a plain pickle": (lambda p: p.write_bytes(pickle.dumps(_Planted())),
                       "not a seqkit checkpoint"),
    "wrong optimiser state": (lambda p: torch.save({"optimizer": {"state": {}}, "scheduler": {},
                                                    "progress": {}, "rng": {}, "carry": None}, p),
                              "does not fit this run's optimiser"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_state_pt_is_refused_with_what_it_is(tmp_path, damage):
    spoil, message = DAMAGE[damage]
    _save(tmp_path, _parts(), 3)
    spoil(tmp_path / "checkpoint" / "state.pt")
    with pytest.raises(SeqkitError) as info:
        _load(tmp_path)
    text = str(info.value)
    assert message in text and text.startswith("--resume:"), text
    assert "weights_only" not in text and "\n" not in text, text


def test_a_damaged_checkpoint_falls_back_to_a_complete_old_one(tmp_path):
    parts = _parts()
    _save(tmp_path, parts, 1)
    shutil.copytree(tmp_path / "checkpoint", tmp_path / "step1")
    _save(tmp_path, parts, 2)
    (tmp_path / "step1").rename(tmp_path / "checkpoint.old")  # as a crash can leave both
    assert _load(tmp_path)[0]["step"] == 2  # the newer one first
    _truncated(tmp_path / "checkpoint" / "state.pt")
    assert _load(tmp_path)[0]["step"] == 1


def test_weights_of_another_shape_in_a_checkpoint_are_refused(tmp_path):
    parts = _parts()
    _save(tmp_path, parts, 1)
    torch.manual_seed(0)
    other = Decoder(11, 6, 9)  # H=9, not 8
    from seqkit.rundir import save_weights

    save_weights(other, tmp_path / "checkpoint" / "model.safetensors")
    with pytest.raises(SeqkitError, match="does not fit the model"):
        _load(tmp_path)


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _cli_fails(argv, capsys, needle) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqkit: error: ") and len(err.splitlines()) == 1, err
    assert needle in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("damage", ["none", "truncated", "torch.save({})", "a planted object"])
def test_resume_from_a_missing_or_damaged_checkpoint_is_one_clear_line(lm_run, tmp_path, capsys,
                                                                       damage):
    run = _copy(lm_run, tmp_path)
    if damage == "none":
        shutil.rmtree(run / "checkpoint")
        needle = "has no checkpoint to resume from"
    else:
        DAMAGE[damage][0](run / "checkpoint" / "state.pt")
        needle = DAMAGE[damage][1]
    saved = {n: (run / n).read_bytes() for n in ("model.safetensors", "metrics.json")}
    settings = tmp_path / "settings.json"  # the run's own config, so the model fits
    settings.write_text(json.dumps(json.loads((run / "config.json").read_text())["config"]))
    err = _cli_fails(["train", "--task", "lm", "--out", str(run), "--resume", "--config",
                      str(settings), "--max-steps", "5"], capsys, needle)
    assert "weights_only" not in err
    assert {n: (run / n).read_bytes() for n in saved} == saved  # nothing lost


@pytest.mark.parametrize("content", [None, b"\x00\xff binary", b"[1, 2]", b'{"test_ppl": 4.5'])
def test_read_metrics_is_empty_for_a_missing_or_damaged_file(tmp_path, content):
    """A demo header reads a run's metrics: a run without a sound metrics.json still demos."""
    if content is not None:
        (tmp_path / "metrics.json").write_bytes(content)
    assert read_metrics(tmp_path) == {}
    (tmp_path / "metrics.json").write_text('{"test_ppl": 4.5}')
    assert read_metrics(tmp_path) == {"test_ppl": 4.5}
