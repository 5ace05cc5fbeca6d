"""Shared fixtures: tiny trained runs that several tests reuse (trained once per session)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from seqkit.data import Source
from seqkit.jobs import train
from seqkit.task import get_task

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiny_lm_config(task_name: str = "lm", **train_overrides):
    """A small, fast configuration of an LM task that still learns the built-in grammar."""
    task = get_task(task_name)
    config = task.config()
    settings = dict(batch_size=16, bptt=20, epochs=8, lr=20.0, bf16=False, log_every=10)
    train_cfg = dataclasses.replace(config.train, **{**settings, **train_overrides})
    return dataclasses.replace(config, embed_size=48, hidden_size=48, num_layers=1,
                               dropout=0.0, train=train_cfg)


@pytest.fixture(scope="session")
def lm_run(tmp_path_factory) -> Path:
    """A word-level LM trained on the built-in grammar for a few seconds."""
    out = tmp_path_factory.mktemp("runs") / "lm"
    train(get_task("lm"), tiny_lm_config(), Source("builtin"), out, quiet=True)
    return out


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped where it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tiny_lm():
    """The ``tiny_lm_config`` factory, for tests that train their own small LM."""
    return tiny_lm_config


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def launch_demo():
    """``launch(app) -> URL``: serve a Gradio app on a free local port until the session ends."""
    import socket

    apps = []

    def launch(app) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                   quiet=True)
        apps.append(app)
        return app.local_url

    yield launch
    for app in apps:
        app.close()


@pytest.fixture
def browser_page():
    """``open_page(url) -> page``: headless Chromium that may reach only ``url`` (fonts or CDNs
    elsewhere would hang without a network). Skipped where Chromium is not installed."""
    if not CHROMIUM.is_file():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)

        def open_page(url: str):
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(url) else route.abort())
            page.goto(url, wait_until="domcontentloaded")
            return page

        try:
            yield open_page
        finally:
            browser.close()
