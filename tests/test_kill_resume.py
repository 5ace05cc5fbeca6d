"""SIGKILL at the worst moments (issue 11): inside a checkpoint write, between the renames of
its swap, or at a random time. Every trial either resumes to weights bit-identical to an
uninterrupted run, or is refused in one clear line and then trains afresh in the same folder.

The suite kills twice inside a checkpoint write; ``benchmarks/kill_soak.py`` runs ten trials at
random points and times (during start-up, while training, inside checkpoint writes). The killed
run is a separate process (``KILLER`` below), which kills itself with SIGKILL at the chosen
point, so the point is exact.
"""
from __future__ import annotations

import contextlib
import io
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqkit.cli import main

TRAIN = ["--task", "lm", "--embed-size", "13", "--hidden-size", "17", "--num-layers", "1",
         "--dropout", "0", "--train.batch-size", "5", "--train.bptt", "9", "--train.epochs", "2",
         "--train.eval-every", "4", "--train.log-every", "2", "--train.threads", "1",
         "--train.no-bf16", "--max-steps", "21"]

# Runs ``seqkit train ARGS`` and SIGKILLs itself at the NTH passage through POINT:
#   state    after writing half of a checkpoint's state.pt
#   weights  after a weights file is written under its temporary name, before its rename
#   swap     between the two renames that swap in a new checkpoint folder
KILLER = """
import os, pathlib, signal, sys
point, nth, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
seen = [0]

def due():
    seen[0] += 1
    return seen[0] == nth

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "state":
    import torch
    real_save = torch.save
    def save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        if due():
            data = pathlib.Path(path).read_bytes()
            pathlib.Path(path).write_bytes(data[: len(data) // 2])
            die()
    torch.save = save
elif point == "weights":
    import seqkit.rundir
    real_replace = os.replace
    def replace(src, dst):
        if pathlib.Path(dst).name == "model.safetensors" and due():
            die()
        return real_replace(src, dst)
    seqkit.rundir.os = type(os)("os_with_a_trap")
    seqkit.rundir.os.__dict__.update(os.__dict__, replace=replace)
elif point == "swap":
    real_rename = pathlib.Path.rename
    def rename(self, target):
        moved = real_rename(self, target)
        if pathlib.Path(target).name == "checkpoint.old" and due():
            die()
        return moved
    pathlib.Path.rename = rename
from seqkit.cli import main
sys.exit(main(argv))
"""


def killed_run(out: Path, point: str, nth: int = 1, delay: float = 0.0) -> int:
    """Train into ``out`` until killed at ``point``: for "startup", ``delay`` seconds after the
    process started; for "time", ``delay`` seconds after its ``config.json`` appeared (while it
    trains). Returns the exit status (-9 when the kill came before the run ended)."""
    argv = ["train", *TRAIN, "--out", str(out)]
    if point in ("startup", "time"):
        process = subprocess.Popen([sys.executable, "-m", "seqkit.cli", *argv],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while point == "time" and not (out / "config.json").exists() and process.poll() is None:
            time.sleep(0.01)
        time.sleep(delay)
        process.kill()
        return process.wait()
    done = subprocess.run([sys.executable, "-c", KILLER, point, str(nth), *argv],
                          capture_output=True, text=True, timeout=600)
    return done.returncode


def finish(out: Path) -> str:
    """Continue a killed run to its end: ``--resume``, or, where it is refused (the kill came
    before the run had a config.json), a fresh run in the same folder. Returns how."""
    with contextlib.redirect_stderr(io.StringIO()) as caught, \
            contextlib.redirect_stdout(io.StringIO()) as said:
        status = main(["train", "--task", "lm", "--out", str(out), "--resume"])
    if status == 0:
        return "started over" if "starting it over" in said.getvalue() else "resumed"
    err = caught.getvalue()
    assert err.startswith("seqkit: error: ") and len(err.splitlines()) == 1, err
    assert "not a seqkit run dir" in err, err  # refused clearly: nothing to resume yet
    assert main(["train", *TRAIN, "--out", str(out)]) == 0
    return "refused, then trained afresh"


def same_weights(run: Path, reference: Path) -> bool:
    """The best weights and the last checkpoint's weights, bit for bit."""
    for name in ("model.safetensors", "checkpoint/model.safetensors"):
        got, want = load_file(run / name), load_file(reference / name)
        if got.keys() != want.keys() or not all(torch.equal(got[k], want[k]) for k in want):
            return False
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("kill") / "reference"
    assert main(["train", *TRAIN, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("point, nth, leftover, how", [
    ("state", 2, "checkpoint.new", "resumed"),  # the second checkpoint's state.pt, half written
    ("swap", 3, "checkpoint.old", "resumed"),  # between the renames of the third
    ("weights", 3, "checkpoint.new", "started over"),  # inside the first (after a validation)
])
def test_a_run_killed_inside_a_checkpoint_write_resumes_to_the_same_weights(
        reference, tmp_path, point, nth, leftover, how):
    """A subprocess run of about 5 s each under load: the only way to test a SIGKILL."""
    out = tmp_path / "run"
    assert killed_run(out, point, nth) == -9
    assert (out / leftover).is_dir()  # the kill really fell inside the write
    assert finish(out) == how
    assert same_weights(out, reference)
    assert not (out / "checkpoint.new").exists() and not (out / "checkpoint.old").exists()


def soak(trials: int, reference: Path, folder: Path, seed: int = 0) -> list[dict]:
    """``trials`` kills at random points and times (``benchmarks/kill_soak.py``); each trial's
    point, how it was finished, and whether the weights came out identical."""
    rng = random.Random(seed)
    results = []
    for trial in range(trials):
        point = rng.choice(["startup", "time", "time", "state", "weights", "swap"])
        nth = rng.randint(1, 5)
        delay = rng.uniform(0.5, 6.0) if point == "startup" else rng.uniform(0.0, 2.5)
        out = folder / f"trial{trial}"
        status = killed_run(out, point, nth, delay)
        how = finish(out)
        results.append({"point": point, "nth": nth, "delay_s": round(delay, 2) if point in
                        ("startup", "time") else None, "killed": status == -9, "finished": how,
                        "identical": same_weights(out, reference)})
    return results
