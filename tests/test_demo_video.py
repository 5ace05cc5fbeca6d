"""The video demo, served for real: through its API (gradio_client) and in a browser.

A tiny tagger is trained once for this module (a few seconds) on a few built-in clips; the
tests serve its demo on a free local port.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
gr = pytest.importorskip("gradio")
torch = pytest.importorskip("torch")
seqkit_video = pytest.importorskip("seqkit_video")

import seqkit.demo  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_video import ClipConfig, VideoConfig, make_clip, write_video  # noqa: E402
from seqkit_video.demo import API_NAME, build_demo  # noqa: E402


def tiny_config() -> VideoConfig:
    """A tiny tagger on a dozen short clips: trains in a few CPU seconds."""
    clips = ClipConfig(train_clips=13, valid_clips=3, test_clips=3, min_frames=21, max_frames=29)
    config = VideoConfig(frame_size=24, feature_size=12, hidden_size=10, clips=clips)
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_size=4, epochs=1, warmup_steps=0, threads=1))


@pytest.fixture(scope="module")
def video_run(tmp_path_factory) -> Path:
    """The run dir of the tiny tagger."""
    out = tmp_path_factory.mktemp("runs") / "video"
    train(seqkit_video.task, tiny_config(), Source("builtin"), out, quiet=True)
    return out


@pytest.fixture(scope="module")
def served(video_run, launch_demo):
    """The demo of ``video_run``, launched in the background; its local URL."""
    return launch_demo(build_demo(load(video_run)))


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory) -> Path:
    """A held-out built-in clip as an mp4 file (27 frames at 25 fps)."""
    frames = make_clip(ClipConfig(min_frames=27, max_frames=27), "test", 1).render(48)
    return write_video(tmp_path_factory.mktemp("clips") / "clip.mp4", frames, fps=25)


def _check_segments(rows, tags: list[str], seconds: float) -> None:
    assert rows, "no segment"
    for start, end, tag in rows:
        assert tag in tags[1:] and 0 <= float(start) < float(end) <= seconds + 1e-6


def test_task_points_at_the_demo(video_run):
    assert isinstance(seqkit.demo.build(str(video_run)), gr.Blocks)


def test_api_tags_an_upload_and_a_builtin_clip(served, video_run, clip_file):
    tags = load(video_run).assets.tags
    client = gradio_client.Client(served, verbose=False)
    upload = gradio_client.handle_file(str(clip_file))
    image, plot, table = client.predict(upload, "(none: use the upload)", 0.0,
                                        api_name=f"/{API_NAME}")
    assert Path(image).is_file() and plot
    _check_segments(table["data"], tags, 27 / 25)
    assert table["headers"] == ["start (s)", "end (s)", "tag"]
    # a built-in clip, smoothed: a penalty well above what this barely trained model's
    # probabilities can outweigh would merge a whole clip into "empty" (no segment to show);
    # clip 1 is mostly one shape moving, which 1 nat leaves standing
    _, _, clip_table = client.predict(None, "test clip 1", 1.0, api_name=f"/{API_NAME}")
    _check_segments(clip_table["data"], tags, 100)


def test_api_explains_bad_input_and_keeps_serving(served, clip_file, tmp_path):
    client = gradio_client.Client(served, verbose=False)
    good = gradio_client.handle_file(str(clip_file))
    _, _, table = client.predict(good, "(none: use the upload)", 0.0, api_name=f"/{API_NAME}")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    cut = tmp_path / "cut.mkv"
    whole = write_video(tmp_path / "whole.mkv", make_clip(ClipConfig(), "test", 0).render(32))
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for path, message in [(text, "notes.mp4 is not a readable video"),
                          (cut, "cut.mkv is truncated")]:
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(gradio_client.handle_file(str(path)),
                           "(none: use the upload)", 0.0, api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="upload a video"):
        client.predict(None, "(none: use the upload)", 0.0, api_name=f"/{API_NAME}")
    _, _, again = client.predict(good, "(none: use the upload)", 0.0, api_name=f"/{API_NAME}")
    assert again["data"] == table["data"]  # still serving, and deterministic


@pytest.mark.browser
def test_browser_uploads_a_clip_and_reads_the_segments(served, video_run, clip_file,
                                                       browser_page):
    from playwright.sync_api import expect

    page = browser_page(served)
    expect(page).to_have_title("seqkit video demo", timeout=20_000)
    page.locator("#video input[type=file]").set_input_files(str(clip_file))
    expect(page.locator("#video video")).to_have_count(1, timeout=20_000)
    page.locator("#tag-button").click()
    grid = page.get_by_role("grid", name="Segments")
    expect(grid.get_by_role("gridcell").first).to_be_visible(timeout=30_000)
    rows = grid.get_by_role("row")
    cells = [rows.nth(i).get_by_role("gridcell").all_inner_texts() for i in range(rows.count())]
    _check_segments([c for c in cells if c], load(video_run).assets.tags, 27 / 25)
    expect(page.locator("#timeline img")).to_be_visible(timeout=20_000)
