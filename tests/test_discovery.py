"""Plugins are found through the seqkit.tasks entry points, like any installed package; a
broken plugin or a damaged run dir is a clear error, never a traceback."""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.jobs import train
from seqkit.task import get_task, installed_tasks
from seqkit.testing import check_task

PLUGIN_SOURCE = Path(__file__).parent / "toy_plugin"


def _install(site: Path, name: str, entry_points: str) -> None:
    """A dist-info folder with entry points, exactly what pip leaves in site-packages."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[seqkit.tasks]\n{entry_points}\n")


@pytest.fixture
def toy_installed(tmp_path, monkeypatch):
    """Install the toy plugin for this test only, on a path prepended to sys.path."""
    site = tmp_path / "site"
    _install(site, "seqkit_toy", "toy = seqkit_toy:task")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    return site


@pytest.fixture
def bad_plugins(toy_installed):
    """Beside the toy: a plugin whose module raises on import, and an entry point that names
    something other than a Task."""
    (toy_installed / "seqkit_broken.py").write_text("raise RuntimeError('boom at import')\n")
    _install(toy_installed, "seqkit_broken", "broken = seqkit_broken:task")
    _install(toy_installed, "seqkit_notatask", "notatask = seqkit_toy:PATTERN")
    return toy_installed


def test_a_plugin_installed_for_the_test_is_found_and_trains(toy_installed, tmp_path):
    assert "toy" in installed_tasks() and "lm" in installed_tasks()
    task = get_task("toy")
    check_task(task, task.config(), tmp_path / "contract")
    metrics = train(task, task.config(), Source("builtin"), tmp_path / "run", quiet=True)
    assert metrics["valid_loss"] < 0.3  # the pattern is learnable; chance is ln 3 = 1.1


def test_seqkit_list_shows_it(toy_installed):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy_installed), str(PLUGIN_SOURCE)])}
    out = subprocess.run([sys.executable, "-m", "seqkit.cli", "list"], env=env, text=True,
                         capture_output=True, check=True).stdout
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert {"toy", "lm", "charlm"} <= set(names)


def test_without_it_the_task_is_unknown_and_the_error_lists_the_installed():
    with pytest.raises(SeqkitError, match=r"unknown task 'toy'.*Installed tasks: .*lm"):
        get_task("toy")
    with pytest.raises(SeqkitError, match="Did you mean 'charlm'"):
        get_task("charml")


def test_an_entry_point_that_is_not_a_task_is_refused(bad_plugins):
    with pytest.raises(SeqkitError, match="entry point 'notatask' .* is not a seqkit.Task"):
        get_task("notatask")


def test_a_plugin_that_fails_to_import_is_a_clear_error(bad_plugins, capsys):
    from seqkit.cli import main

    with pytest.raises(SeqkitError, match="'broken' is installed but fails to load.*boom"):
        get_task("broken")
    assert main(["train", "--task", "broken", "--out", "never"]) == 2
    err = capsys.readouterr().err
    assert "boom at import" in err and len(err.splitlines()) == 1, err


def test_seqkit_list_shows_the_others_and_says_which_failed(bad_plugins):
    paths = [str(bad_plugins), str(PLUGIN_SOURCE), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, "-m", "seqkit.cli", "list"], env=env, text=True,
                          capture_output=True)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("\t", 1) for line in done.stdout.splitlines())
    assert {"toy", "lm", "charlm", "broken", "notatask"} <= set(lines)
    assert lines["toy"] == "toy pattern task (test plugin)"
    assert lines["broken"] == "(fails to load: RuntimeError: boom at import)"
    assert "is a list, not a seqkit.Task" in lines["notatask"]
    assert "broken, notatask failed to load" in done.stderr and "Traceback" not in done.stderr


def _damaged(run: Path, tmp_path: Path, spoil) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    spoil(copy)
    return copy


def _edit_config(change):
    def spoil(run: Path) -> None:
        meta = json.loads((run / "config.json").read_text())
        change(meta)
        (run / "config.json").write_text(json.dumps(meta))
    return spoil


def _foreign_weights(run: Path) -> None:
    """Weights of another run: the same task at another size."""
    from seqkit.rundir import load, save_weights

    loaded = load(run)
    config = dataclasses.replace(loaded.config, hidden_size=loaded.config.hidden_size + 3)
    save_weights(loaded.task.build_model(config, loaded.assets), run / "model.safetensors")


DAMAGED = {
    "binary config.json": (lambda r: (r / "config.json").write_bytes(bytes(range(256)) * 4),
                           "config.json is damaged: not valid JSON text"),
    "hidden_size 'abc'": (_edit_config(lambda m: m["config"].update(hidden_size="abc")),
                          "config.json: hidden_size must be a whole number, got 'abc'"),
    "hidden_size -5": (_edit_config(lambda m: m["config"].update(hidden_size=-5)),
                       "hidden_size"),
    "train.batch_size 0": (_edit_config(lambda m: m["config"]["train"].update(batch_size=0)),
                           "config.json: train.batch_size must be >= 1, got 0"),
    "train.lr 'fast'": (_edit_config(lambda m: m["config"]["train"].update(lr="fast")),
                        "config.json: train.lr must be a number, got 'fast'"),
    "task a list": (_edit_config(lambda m: m.update(task=["lm"])),
                    "'task' must be a task name"),
    "config a string": (_edit_config(lambda m: m.update(config="x")),
                        "'config' a table of settings"),
    "another run's weights": (_foreign_weights, "does not fit the model its config describes"),
    "junk tokenizer.json": (lambda r: (r / "tokenizer.json").write_text("{junk"),
                            "tokenizer.json"),
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_damaged_run_files_are_one_clear_line(lm_run, tmp_path, capsys, damage):
    from seqkit.cli import main

    spoil, needle = DAMAGED[damage]
    run = _damaged(lm_run, tmp_path, spoil)
    for argv in (["eval", str(run)], ["predict", str(run), "--prompt", "the"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("seqkit: error: ") and len(err.splitlines()) == 1, err
        assert needle in err, err
