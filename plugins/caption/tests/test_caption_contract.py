"""The caption task meets the core's contract, and is found through its entry point."""
from __future__ import annotations

import dataclasses
import inspect

from seqkit.task import get_task
from seqkit.testing import check_config, check_task
from seqkit_caption import CaptionConfig, SceneConfig, task


def test_contract(tmp_path, tiny_config):
    check_task(task, tiny_config(), tmp_path)


def test_found_by_name():
    assert get_task("caption") is task
    assert not task.streams and task.predict is not None


def test_every_config_field_has_a_comment():
    check_config(CaptionConfig)
    source = inspect.getsource(SceneConfig).splitlines()
    for field in dataclasses.fields(SceneConfig):
        line = next(ln for ln in source if ln.strip().startswith(f"{field.name}:"))
        assert "#" in line, field.name
