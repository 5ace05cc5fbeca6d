"""Real photos: ../shared/data/flickr8k-subset (900 Flickr8k images, 5 captions each)."""
from __future__ import annotations

import json

import pytest

from seqkit.data import Source
from seqkit.jobs import train
from seqkit_caption import task
from seqkit_caption.data import read_splits


@pytest.fixture
def flickr(caption_data):
    folder = caption_data / "flickr8k-subset"
    if not (folder / "captions.csv").is_file():
        pytest.skip(f"{folder}/captions.csv not found")
    return Source("folder", path=folder)


def test_flickr_is_split_by_image(flickr, tiny_config):
    splits = read_splits(tiny_config(), flickr)
    assert {k: len(v) for k, v in splits.items()} == {"valid": 90, "test": 90, "train": 720}
    names = [set(data.names) for data in splits.values()]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert all(len(caps) == 5 for data in splits.values() for caps in data.captions)


def test_train_and_evaluate_on_flickr(flickr, tiny_config, tmp_path):
    config = tiny_config(train_cfg={"max_steps": 4, "batch_size": 16}, valid_fraction=0.03,
                         test_fraction=0.03)
    metrics = train(task, config, flickr, tmp_path / "run", quiet=True)
    for split in ("valid", "test"):
        for key in ("loss", "bleu1", "bleu4", "cider", "baseline_bleu4", "baseline_cider"):
            assert f"{split}_{key}" in metrics, key
        assert f"{split}_exact_match" not in metrics
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_images"] == 27
