"""Shared helpers of the translate plugin's tests: tiny configs and parallel-file folders."""
from __future__ import annotations

import dataclasses
import gzip
import random
from pathlib import Path

import pytest

from seqkit_translate import G2PConfig, TranslateConfig

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"  # ../shared/data


def make_tiny_config(train_cfg: dict | None = None, **fields) -> TranslateConfig:
    """A small model; odd sizes so that swapped dimensions fail (2 * encoder = hidden, so that
    Luong-dot fits too)."""
    base = TranslateConfig(embed_size=15, encoder_size=9, hidden_size=18, attention_size=11,
                           dropout=0.0, label_smoothing=0.0, beam=3, vocab_size=60,
                           g2p=G2PConfig(words=301, valid_fraction=0.1, test_fraction=0.1))
    settings = {"batch_size": 8, "batch_tokens": 0, "epochs": 1, "threads": 1, "log_every": 5,
                "warmup_steps": 0}
    trained = dataclasses.replace(base.train, **{**settings, **(train_cfg or {})})
    return dataclasses.replace(base, train=trained, **fields)


def random_words(rng: random.Random, count: int, low: int = 3, high: int = 7,
                 alphabet: str = "abcdefg") -> list[str]:
    """``count`` sentences of ``low``..``high`` one-letter words."""
    return [" ".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))
            for _ in range(count)]


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write lines as UTF-8 text, gzip-compressed when the name ends in .gz."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def reversal_folder(folder: Path, sizes: dict[str, int], seed: int = 0,
                    suffix: str = "") -> Path:
    """Parallel files ``STEM.src``/``STEM.tgt`` (``suffix`` ".gz" to compress): each target
    is its source reversed."""
    rng = random.Random(seed)
    for stem, count in sizes.items():
        sources = random_words(rng, count)
        write_lines(folder / f"{stem}.src{suffix}", sources)
        write_lines(folder / f"{stem}.tgt{suffix}", [" ".join(s.split()[::-1]) for s in sources])
    return folder


@pytest.fixture
def tiny_config():
    """The ``make_tiny_config`` factory (fixtures, since tests cannot import conftest)."""
    return make_tiny_config


@pytest.fixture
def reversal(tmp_path):
    """A folder of small reversal pairs: train 61, val 13, two test sets (11 and 7)."""
    return reversal_folder(tmp_path / "rev", {"train": 61, "val": 13, "test_2016_flickr": 11,
                                              "test_2017_mscoco": 7}, suffix=".gz")


@pytest.fixture
def translate_data() -> Path:
    """``../shared/data`` beside the repository; skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (a fresh clone has none)")
    return SHARED_DATA


@pytest.fixture
def make_reversal():
    """The ``reversal_folder`` factory."""
    return reversal_folder
