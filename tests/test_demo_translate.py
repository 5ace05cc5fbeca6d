"""The translate demo, served for real: through its API (gradio_client) and in a browser.

A tiny reversal model (letters in, the same letters reversed out) is trained once for this
module in a few seconds; the tests serve its demo on a free local port.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
gr = pytest.importorskip("gradio")
seqkit_translate = pytest.importorskip("seqkit_translate")

from PIL import Image  # noqa: E402

import seqkit.demo  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_translate import TranslateConfig  # noqa: E402
from seqkit_translate.demo import API_NAME, build_demo  # noqa: E402


def tiny_config() -> TranslateConfig:
    """A small word-level model, trained just enough to say something (whether it reverses
    well does not matter here)."""
    import dataclasses

    config = TranslateConfig(src="src", tgt="tgt", src_tokenizer="word", tgt_tokenizer="word",
                             embed_size=15, encoder_size=9, hidden_size=18, attention_size=11,
                             dropout=0.0, beam=3, max_source=9, overlong="reject")
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_size=16, batch_tokens=0, epochs=25, lr=0.01, warmup_steps=0,
        threads=1))


@pytest.fixture(scope="module")
def translate_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pairs")
    rng = random.Random(0)
    for split, count in (("train", 97), ("valid", 11), ("test", 7)):
        sources = [" ".join(rng.choice("abcde") for _ in range(rng.randint(2, 6)))
                   for _ in range(count)]
        (folder / f"{split}.src").write_text("\n".join(sources) + "\n")
        (folder / f"{split}.tgt").write_text("\n".join(" ".join(s.split()[::-1])
                                                       for s in sources) + "\n")
    out = tmp_path_factory.mktemp("runs") / "translate"
    train(seqkit_translate.task, tiny_config(), Source("folder", path=folder), out, quiet=True)
    return out


@pytest.fixture(scope="module")
def served(translate_run, launch_demo):
    return launch_demo(build_demo(load(translate_run)))


def rows_of(table) -> list[list]:
    """The rows of a Dataframe output, whichever shape the client returns it in."""
    return table["data"] if isinstance(table, dict) else table


def test_task_points_at_the_demo(translate_run):
    assert isinstance(seqkit.demo.build(str(translate_run)), gr.Blocks)


def test_api_translates_with_nbest_and_heatmap(served, translate_run):
    client = gradio_client.Client(served, verbose=False)
    text, table, image, note = client.predict("a b c d", 4, api_name=f"/{API_NAME}")
    vocabulary = set(load(translate_run).assets.target.tokenizer.get_vocab())
    assert text and set(text.split()) <= vocabulary
    rows = rows_of(table)
    assert [row[0] for row in rows] == [1, 2, 3, 4]  # beam 4: four hypotheses, ranked
    scores = [float(row[1]) for row in rows]
    assert scores == sorted(scores, reverse=True) and rows[0][2] == text
    with Image.open(image) as picture:
        assert picture.width > 100 and picture.height > 100
    assert not note


def test_api_explains_bad_input_and_keeps_serving(served):
    client = gradio_client.Client(served, verbose=False)
    text, _, _, _ = client.predict("a b c", 3, api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="type a sentence"):
        client.predict("   ", 3, api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="more than max_source 9"):
        client.predict(" ".join("abcde" * 2), 3, api_name=f"/{API_NAME}")
    _, _, _, note = client.predict("a z b", 3, api_name=f"/{API_NAME}")
    assert "z" in note and "<unk>" in note
    again, _, _, _ = client.predict("a b c", 3, api_name=f"/{API_NAME}")
    assert again == text  # still serving, and decoding is deterministic


@pytest.mark.browser
def test_browser_types_a_sentence_and_reads_the_translation(served, browser_page):
    from playwright.sync_api import expect

    page = browser_page(served)
    expect(page).to_have_title("seqkit translate demo", timeout=20_000)
    page.locator("#source textarea").fill("a b c d e")
    page.locator("#translate-button").click()
    translation = page.locator("#translation textarea")
    expect(translation).not_to_have_value("", timeout=30_000)
    expect(page.locator("#heatmap img")).to_be_visible(timeout=20_000)
    assert set(translation.input_value().split()) <= set("abcde") | {"<unk>"}
