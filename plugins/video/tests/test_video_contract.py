"""The video task meets the core's contract in each of its modes, and is found by name."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from seqkit.errors import SeqkitError
from seqkit.task import get_task
from seqkit.testing import check_config, check_task
from seqkit_video import ClipConfig, VideoConfig, task


def test_contract_single_label(tmp_path, tiny_config):
    check_task(task, tiny_config(), tmp_path)


def test_contract_multilabel_with_overlapping_shapes(tmp_path, tiny_config):
    check_task(task, tiny_config(clips={"overlap": True}, multilabel=True), tmp_path)


def test_contract_streaming_unidirectional(tmp_path, tiny_config):
    check_task(task, tiny_config(bidirectional=False, stream=True, cell="lstm"), tmp_path)


def test_contract_frozen_backbone_without_position_stage(tmp_path, tiny_config):
    check_task(task, tiny_config(freeze_backbone=True, position=False), tmp_path)


def test_found_by_name():
    assert get_task("video") is task
    assert task.streams and task.predict is not None and task.demo is not None


def test_every_config_field_has_a_comment():
    check_config(VideoConfig)
    source = inspect.getsource(ClipConfig).splitlines()
    for field in dataclasses.fields(ClipConfig):
        line = next(ln for ln in source if ln.strip().startswith(f"{field.name}:"))
        assert "#" in line, field.name


def test_streaming_needs_a_unidirectional_rnn(tiny_config):
    from seqkit.data import Source

    with pytest.raises(SeqkitError, match="no-bidirectional"):
        task.prepare(tiny_config(stream=True), Source("builtin"), None)
