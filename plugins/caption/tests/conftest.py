"""Shared fixtures of the caption plugin's tests: tiny configs, a trained tiny run, image files."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from seqkit.data import Source
from seqkit.jobs import train
from seqkit_caption import CaptionConfig, SceneConfig, task

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"  # ../shared/data


def make_tiny_config(scenes: dict | None = None, train_cfg: dict | None = None, **fields):
    """A small model on a small scene set; sizes are odd where a swap would go unnoticed."""
    scene = SceneConfig(train_images=41, valid_images=9, test_images=7, canvas=32,
                        max_shapes=2, colours=3, kinds=3)
    base = CaptionConfig(backbone="resnet18", cut_after="layer2", image_size=32,
                         feature_size=24, embed_size=16, hidden_size=40, attention_size=20,
                         dropout=0.0, baseline_images=13, max_length=12, cache_images=500,
                         scenes=dataclasses.replace(scene, **(scenes or {})))
    settings = {"batch_size": 8, "epochs": 1, "threads": 1, "log_every": 5, "warmup_steps": 0}
    trained = dataclasses.replace(base.train, **{**settings, **(train_cfg or {})})
    return dataclasses.replace(base, train=trained, **fields)


def learning_config():
    """A small ShuffleNet captioner on two-shape scenes of four colours, one kind: learns in
    about half a minute of one CPU core, and must then name colour pairs it never saw."""
    scenes = {"train_images": 2000, "valid_images": 61, "test_images": 101, "canvas": 64,
              "min_shapes": 2, "max_shapes": 2, "colours": 4, "kinds": 1}
    return make_tiny_config(scenes=scenes,
                            train_cfg={"batch_size": 32, "epochs": 10, "lr": 2e-3,
                                       "warmup_steps": 20, "schedule": "cosine"},
                            backbone="shufflenet_v2_x0_5", cut_after="stage3", image_size=64,
                            feature_size=48, embed_size=32, hidden_size=96, attention_size=48,
                            attention_penalty=0.1, baseline_images=200)



@pytest.fixture
def tiny_config():
    """The ``make_tiny_config`` factory (fixtures, since tests cannot import conftest)."""
    return make_tiny_config


@pytest.fixture(scope="session")
def scene_run(tmp_path_factory):
    """A tiny captioner trained on tiny built-in scenes: ``(run dir, metrics, seconds)``."""
    out = tmp_path_factory.mktemp("caption") / "run"
    threads = torch.get_num_threads()
    started = time.perf_counter()
    try:  # the config asks fit() for one thread; give the others back afterwards
        metrics = train(task, learning_config(), Source("builtin"), out, quiet=True)
    finally:
        torch.set_num_threads(threads)
    return out, metrics, time.perf_counter() - started


@pytest.fixture
def caption_data() -> Path:
    """``../shared/data`` beside the repository; skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (a fresh clone has none)")
    return SHARED_DATA


def write_image(path: Path, size=(11, 7), colour=(200, 30, 60), mode: str = "RGB") -> Path:
    """Write a small plain image (PNG or JPEG by suffix) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)
    return path


@pytest.fixture
def save_image():
    """The ``write_image`` helper."""
    return write_image


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """A folder of 10 images under images/, with a captions.csv of two captions each."""
    rows = ["image,caption"]
    for i in range(10):
        write_image(tmp_path / "images" / f"img{i}.png", colour=(20 * i, 100, 200 - 10 * i))
        rows += [f"img{i}.png,A picture number {i}.", f"img{i}.png,\"Colour, shade {i}\""]
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n")
    return tmp_path
