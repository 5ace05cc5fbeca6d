"""train.threads = 0 picks the thread count by seqkit.threads' rule, not torch's default."""
import dataclasses

import pytest
import torch

from seqkit import threads
from seqkit.data import Source
from seqkit.jobs import train
from seqkit.task import get_task


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_rule_by_usable_cores(cores, expected):
    assert threads.auto_threads(cores, environ={}) == expected


@pytest.mark.parametrize("name", threads.USER_SETTINGS)
def test_an_environment_setting_keeps_torchs_count(name):
    torch.set_num_threads(3)
    assert threads.auto_threads(16, environ={name: "3"}) == 3
    assert threads.auto_threads(16, environ={name: " "}) == 8  # blank: not a choice


def test_usable_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 5, 7}, raising=False)
    assert threads.usable_cores() == 3


def test_a_positive_setting_wins_and_zero_asks_the_rule(monkeypatch):
    monkeypatch.setattr(threads, "auto_threads", lambda: 5)
    assert threads.choose_threads(2) == 2
    assert threads.choose_threads(0) == 5


def test_fit_sets_the_chosen_count(tmp_path, tiny_lm, monkeypatch):
    """With train.threads = 0 the run trains at the rule's count (here faked as 2), whatever
    torch had (the test session's 1); the root conftest restores the count afterwards."""
    task, seen = get_task("lm"), []

    def spy(model, batch, state):
        seen.append(torch.get_num_threads())
        return task.loss(model, batch, state)

    monkeypatch.setattr(threads, "auto_threads", lambda: 2)
    train(dataclasses.replace(task, loss=spy), tiny_lm(max_steps=2, threads=0),
          Source("builtin"), tmp_path / "run", quiet=True)
    assert seen and set(seen) == {2}
