"""The language-model demo, served for real: through its API (gradio_client) and in a browser.

Both tests serve the app built from the session's tiny ``lm_run`` on a free local port.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

import seqkit.demo  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_lm.demo import API_NAME  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GOOD = {"prompt": "the dog saw", "temperature": 0.8, "top_k": 0, "length": 12, "seed": 0}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(lm_run):
    """The demo of ``lm_run``, launched in the background; yields its local URL."""
    demo = seqkit.demo.build(str(lm_run))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


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
def test_browser_generates_and_draws_the_chart(served, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page()
            # Only the app itself: fonts or CDNs elsewhere would hang without a network.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(served) else route.abort())
            page.goto(served, wait_until="domcontentloaded")
            sync_api.expect(page).to_have_title("seqkit lm demo", timeout=20_000)
            output = page.locator("#continuation textarea")
            sync_api.expect(output).to_have_value("", timeout=20_000)
            page.locator("#prompt textarea").fill("the dog saw")
            page.locator("#generate").click()
            sync_api.expect(output).not_to_have_value("", timeout=20_000)
            assert output.input_value().strip()
            bars = page.locator("#next-token-chart .mark-rect path")  # Vega draws one per token
            sync_api.expect(bars).to_have_count(10, timeout=20_000)
        finally:
            browser.close()
