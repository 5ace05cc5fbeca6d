"""Plugins are found through the seqkit.tasks entry points, like any installed package."""
import os
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


@pytest.fixture
def toy_installed(tmp_path, monkeypatch):
    """Install the toy plugin for this test only: a dist-info folder with its entry point,
    exactly what pip leaves in site-packages, on a path prepended to sys.path."""
    site = tmp_path / "site"
    info = site / "seqkit_toy-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[seqkit.tasks]\ntoy = seqkit_toy:task\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))
    return site


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
