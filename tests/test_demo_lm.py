"""The language-model demo, served for real: through its API (gradio_client) and in a browser.

Both tests serve the app built from the session's tiny ``lm_run`` on a free local port.
"""
from __future__ import annotations

import os

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

import seqkit.demo  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_lm.demo import API_NAME  # noqa: E402

GOOD = {"prompt": "the dog saw", "temperature": 0.8, "top_k": 0, "length": 12, "seed": 0}


@pytest.fixture
def served(lm_run, launch_demo):
    """The demo of ``lm_run``, launched in the background; its local URL."""
    return launch_demo(seqkit.demo.build(str(lm_run)))


def test_api_generates_vocabulary_words_and_survives_bad_input(served, lm_run):
    vocab = set(load(lm_run).assets.tokenizer.get_vocab())
    client = gradio_client.Client(served, verbose=False)

    text, chart, note = client.predict(**GOOD, api_name=f"/{API_NAME}")
    words = text.split()
    assert words, "the continuation is empty"
    assert set(words) <= vocab - {"<unk>", "<pad>"}, f"non-vocabulary words in {text!r}"
    assert "<unk>" not in note
    tokens, probs = zip(*chart["data"])  # the top-10 next tokens, likeliest first
    assert len(tokens) == 10 and set(tokens) <= vocab
    assert list(probs) == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.001

    _, _, note = client.predict(**{**GOOD, "prompt": "the zyzzyva saw"}, api_name=f"/{API_NAME}")
    assert "<unk>" in note and "zyzzyva" in note

    for bad, message in ((0, "minimum"), (10_000, "maximum"), (2.5, "whole number")):
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(**{**GOOD, "length": bad}, api_name=f"/{API_NAME}")
    again, _, _ = client.predict(**GOOD, api_name=f"/{API_NAME}")
    assert again == text  # still serving, and the same seed gives the same text


@pytest.mark.browser
def test_browser_generates_and_draws_the_chart(served, browser_page):
    from playwright.sync_api import expect

    page = browser_page(served)
    expect(page).to_have_title("seqkit lm demo", timeout=20_000)
    output = page.locator("#continuation textarea")
    expect(output).to_have_value("", timeout=20_000)
    page.locator("#prompt textarea").fill("the dog saw")
    page.locator("#generate").click()
    expect(output).not_to_have_value("", timeout=20_000)
    assert output.input_value().strip()
    bars = page.locator("#next-token-chart .mark-rect path")  # Vega draws one per token
    expect(bars).to_have_count(10, timeout=20_000)
