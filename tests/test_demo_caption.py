"""The caption demo, served for real: through its API (gradio_client) and in a browser.

A tiny captioner is trained once for this module (a few seconds) on a tiny built-in scene set;
the tests serve its demo on a free local port.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
gr = pytest.importorskip("gradio")
torch = pytest.importorskip("torch")
seqkit_caption = pytest.importorskip("seqkit_caption")

from PIL import Image  # noqa: E402

import seqkit.demo  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_caption import CaptionConfig, SceneConfig, example_scenes  # noqa: E402
from seqkit_caption.demo import API_NAME, build_demo  # noqa: E402

SPECIAL = {"<unk>", "<pad>", "<bos>", "<eos>"}
REPO = Path(__file__).resolve().parents[1]


def tiny_config() -> CaptionConfig:
    """A small captioner on 400 small scenes: trains in a few CPU seconds and already writes
    captions of real words (their accuracy does not matter here)."""
    scenes = SceneConfig(train_images=400, valid_images=9, test_images=7, canvas=32,
                         max_shapes=2, colours=3, kinds=3)
    config = CaptionConfig(backbone="resnet18", cut_after="layer2", image_size=32,
                           feature_size=24, embed_size=16,
                           hidden_size=40, attention_size=20, dropout=0.0, baseline_images=13,
                           max_length=12, scenes=scenes)
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_size=16, epochs=4, lr=3e-3, warmup_steps=0, threads=1))


@pytest.fixture(scope="module")
def caption_run(tmp_path_factory) -> Path:
    """The run dir of the tiny captioner."""
    out = tmp_path_factory.mktemp("runs") / "caption"
    train(seqkit_caption.task, tiny_config(), Source("builtin"), out, quiet=True)
    return out


@pytest.fixture(scope="module")
def served(caption_run, launch_demo):
    """The demo of ``caption_run``, launched in the background; its local URL."""
    return launch_demo(build_demo(load(caption_run)))


@pytest.fixture
def scene_file(caption_run, tmp_path) -> Path:
    """A held-out built-in scene, as a PNG file."""
    image, _ = example_scenes(1, "test", load(caption_run).config.scenes)[0]
    image.save(tmp_path / "scene.png")
    return tmp_path / "scene.png"


def zero_size_png(path: Path) -> Path:
    """A PNG whose header declares a 0x0 image (Pillow cannot write one)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)  # width, height, depth 8, RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def bad_files(folder: Path, max_pixels: int) -> list[tuple[Path, str]]:
    """``(file, message pattern)`` for each kind of bad upload the demo must explain."""
    text = folder / "notes.txt"
    text.write_text("not an image\n")
    whole = folder / "whole.jpg"
    Image.new("RGB", (64, 48), (200, 40, 90)).save(whole)
    cut = folder / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    side = int(max_pixels ** 0.5) + 2
    huge = folder / "huge.png"
    Image.new("1", (side, side)).save(huge)  # a few kB on disk, over the limit when decoded
    return [(text, "notes.txt is not an image"), (cut, "cut.jpg is damaged or truncated"),
            (zero_size_png(folder / "zero.png"), "zero.png is not an image"),
            (huge, "huge.png is .* over the limit")]


def make_demo_command(tmp_path: Path, **variables: str) -> str:
    """The command ``make demo`` would run with these variables (``make -n``: nothing runs;
    a fresh setup stamp keeps the setup steps out of the answer)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    stamp = tmp_path / "stamp"
    stamp.touch()
    settings = [f"{key}={value}" for key, value in {"STAMP": stamp, **variables}.items()]
    done = subprocess.run(["make", "-n", "--no-print-directory", "demo", *settings], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_make_demo_serves_the_run_make_run_trained(tmp_path):
    run = tmp_path / "caption-builtin"
    assert make_demo_command(tmp_path, RUN=run).endswith("seqkit demo caption")  # none yet
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert make_demo_command(tmp_path, RUN=run).endswith("seqkit demo caption")  # unfinished
    (run / "metrics.json").write_text("{}")
    assert make_demo_command(tmp_path, RUN=run).endswith(f"seqkit demo {run}")
    assert make_demo_command(tmp_path, RUN=run, TASK="lm").endswith("seqkit demo lm")


def test_task_points_at_the_demo(caption_run):
    assert isinstance(seqkit.demo.build(str(caption_run)), gr.Blocks)


def test_api_captions_with_one_attention_map_per_word(served, caption_run, scene_file):
    tokenizer = load(caption_run).assets.tokenizer
    vocab = {tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)} - SPECIAL
    client = gradio_client.Client(served, verbose=False)
    text, gallery = client.predict(gradio_client.handle_file(str(scene_file)), 3,
                                   api_name=f"/{API_NAME}")
    words = text.split()
    assert words, "the caption is empty"
    assert set(words) <= vocab, f"non-vocabulary words in {text!r}"
    assert [item["caption"] for item in gallery] == words
    for item in gallery:
        with Image.open(item["image"]) as overlay:
            assert overlay.size == (192, 192)  # a 32-pixel scene, scaled up to be seen
    greedy, maps = client.predict(gradio_client.handle_file(str(scene_file)), 1,
                                  api_name=f"/{API_NAME}")
    assert greedy.split() and len(maps) == len(greedy.split())


def test_api_explains_bad_input_and_keeps_serving(served, caption_run, scene_file, tmp_path):
    client = gradio_client.Client(served, verbose=False)
    good = gradio_client.handle_file(str(scene_file))
    text, _ = client.predict(good, 3, api_name=f"/{API_NAME}")
    for path, message in bad_files(tmp_path, load(caption_run).config.max_pixels):
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(gradio_client.handle_file(str(path)), 3, api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="upload an image"):
        client.predict(None, 3, api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="whole number"):
        client.predict(good, 2.5, api_name=f"/{API_NAME}")
    again, _ = client.predict(good, 3, api_name=f"/{API_NAME}")
    assert again == text  # still serving, and beam search is deterministic


def _caption_in_browser(page, expect, load_image) -> list[str]:
    """Open the app afresh, load an image with ``load_image(page)``, press Caption; returns the
    caption's words once one attention map per word is on the page."""
    page.reload(wait_until="domcontentloaded")
    caption = page.locator("#caption textarea")
    expect(caption).to_have_value("", timeout=20_000)
    load_image(page)
    expect(page.locator("#image img")).to_be_visible(timeout=20_000)
    page.locator("#caption-button").click()
    expect(caption).not_to_have_value("", timeout=20_000)
    words = caption.input_value().split()
    expect(page.locator("#attention img")).to_have_count(len(words), timeout=20_000)
    return words


@pytest.mark.browser
def test_browser_captions_an_upload_and_an_example(served, scene_file, browser_page):
    from playwright.sync_api import expect

    page = browser_page(served)
    expect(page).to_have_title("seqkit caption demo", timeout=20_000)
    upload = _caption_in_browser(page, expect, lambda p: p.locator(
        "#image input[type=file]").set_input_files(str(scene_file)))
    assert upload
    example = _caption_in_browser(page, expect, lambda p: p.locator(
        "#examples button.gallery-item").first.click())
    assert example
