"""The Gradio demo of the video task: tag a video frame by frame and show the timeline.

The user uploads a video (or picks a built-in test clip) and sets the smoothing; the app shows
a strip of sampled frames over a coloured timeline of the predicted tags, the per-tag
probabilities over time as a plot, and the segments as a table. gradio and matplotlib are
imported only inside the functions that need them.
"""
from __future__ import annotations

import colorsys
from functools import partial

import numpy as np
from PIL import Image, ImageDraw

from seqkit.demo import shows_errors
from seqkit.rundir import Run, read_metrics
from seqkit_video.inference import Tagging, builtin_clip, tag_frames, tag_video

API_NAME = "tag"  # the endpoint gradio_client calls: ``client.predict(..., api_name=...)``
CLIPS = 6  # built-in test clips offered
STRIP = 8  # frames shown in the strip
TILE = 96  # side of each shown frame, in pixels
BAR = 28  # height of the timeline bar
NO_CLIP = "(none: use the upload)"
HEADERS = ["start (s)", "end (s)", "tag"]


def tag_colours(tags: list[str]) -> dict[str, tuple[int, int, int]]:
    """A distinct colour per tag; the background tag is grey."""
    out = {tags[0]: (150, 150, 150)}
    for i, tag in enumerate(tags[1:]):
        r, g, b = colorsys.hsv_to_rgb(i / max(len(tags) - 1, 1), 0.65, 0.9)
        out[tag] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def timeline_image(tagging: Tagging) -> Image.Image:
    """Sampled frames side by side, over a bar coloured by each frame's (first) tag."""
    width = TILE * max(len(tagging.strip), 1)
    image = Image.new("RGB", (width, TILE + BAR + 4), (255, 255, 255))
    for i, frame in enumerate(tagging.strip):
        image.paste(Image.fromarray(frame).resize((TILE, TILE), Image.NEAREST), (i * TILE, 0))
    colours = tag_colours(tagging.tags)
    draw, frames = ImageDraw.Draw(image), tagging.frame_tags()
    for t, tags in enumerate(frames):
        x0, x1 = t * width // len(frames), (t + 1) * width // len(frames)
        draw.rectangle([x0, TILE + 4, max(x0, x1 - 1), TILE + 3 + BAR], fill=colours[tags[0]])
    return image


def probability_plot(tagging: Tagging):
    """A matplotlib figure of each tag's probability over time (tags never above 0.2 are
    left out to keep it readable)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 3), dpi=80)
    colours = tag_colours(tagging.tags)
    probs = tagging.probs.numpy()
    for k, tag in enumerate(tagging.tags):
        if probs[:, k].max() > 0.2:
            axes.plot(tagging.times, probs[:, k], label=tag,
                      color=np.array(colours[tag]) / 255)
    axes.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1.02))
    axes.legend(fontsize=7, loc="upper right", ncol=2)
    figure.tight_layout()
    plt.close(figure)
    return figure


def tag_upload(run: Run, video: str | None, clip: str | None, smoothing: float):
    """The demo's callback: ``(timeline image, probability plot, segment rows)``.

    The video is decoded by seqkit (PyAV), so a file that is not a video, a truncated one, a
    video without frames or one past the run's limits raises a ``SeqkitError`` that says so.
    """
    if smoothing is None or not 0 <= float(smoothing) <= 50:
        raise ValueError(f"smoothing must be between 0 and 50 nats, not {smoothing}")
    if clip and clip != NO_CLIP:
        frames, _ = builtin_clip(run, int(clip.rsplit(" ", 1)[-1]))
        tagging = tag_frames(run, frames, float(smoothing), strip=STRIP)
    elif video:
        tagging = tag_video(run, video, float(smoothing), strip=STRIP)
    else:
        raise ValueError("upload a video, or pick a built-in clip, first")
    rows = [[s["start"], s["end"], s["tag"]] for s in tagging.segments()]
    return timeline_image(tagging), probability_plot(tagging), rows


def _header(run: Run) -> str:
    """Markdown title and usage, with the run's test metrics if known."""
    lines = [f"# seqkit · {run.task.name}: {run.task.description}",
             f"Run dir: `{run.path}`. Upload a video (mp4, webm, avi, mkv) or pick a built-in "
             "test clip (its shapes wear colours training never showed on them), then press "
             "**Tag**. Smoothing (Viterbi) removes one-frame flickers."]
    metrics = read_metrics(run.path)  # {} for a run without them: it still demos
    if isinstance(metrics.get("test_frame_accuracy"), (int, float)):
        lines.append(f"On the test split: frame accuracy **{metrics['test_frame_accuracy']:.1%}**"
                     f", F1@50 **{metrics.get('test_f1_50', 0):.1f}**.")
    return "\n\n".join(lines)


def build_demo(run: Run):
    """The ``gradio.Blocks`` app of a trained video run."""
    import gradio as gr

    respond = shows_errors(partial(tag_upload, run))
    clips = [NO_CLIP] + [f"test clip {i}" for i in range(CLIPS)]
    with gr.Blocks(title=f"seqkit {run.task.name} demo") as demo:
        gr.Markdown(_header(run))
        with gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video")
                clip = gr.Dropdown(clips, value=NO_CLIP, label="Built-in clip",
                                   elem_id="clip")
                smoothing = gr.Slider(0, 20, value=run.config.smoothing, step=0.5,
                                      label="Smoothing (switch penalty, nats)",
                                      elem_id="smoothing")
                button = gr.Button("Tag", variant="primary", elem_id="tag-button")
            with gr.Column(scale=3):
                timeline = gr.Image(label="Frames and tag timeline", type="pil",
                                    elem_id="timeline")
                plot = gr.Plot(label="Tag probabilities over time", elem_id="plot")
                table = gr.Dataframe(headers=HEADERS, label="Segments", elem_id="segments",
                                     interactive=False)
        button.click(respond, inputs=[video, clip, smoothing], outputs=[timeline, plot, table],
                     api_name=API_NAME)
    return demo
