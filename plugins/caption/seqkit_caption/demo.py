"""The Gradio demo of the caption task: caption an image, and show where each word looked.

The user uploads an image (or picks a built-in scene) and chooses a beam size; the app answers
with the caption and one copy of the image per generated word, dimmed where that word's
attention was low. gradio is imported only inside the functions that need it, so importing this
module stays cheap and works without the ``demo`` extra.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
from functools import partial
from pathlib import Path

from PIL import Image

from seqkit.demo import shows_errors
from seqkit.errors import SeqkitError
from seqkit.rundir import Run, read_config, read_metrics
from seqkit_caption.images import open_image
from seqkit_caption.inference import caption_image
from seqkit_caption.scenes import example_scenes

API_NAME = "caption"  # the endpoint gradio_client calls: ``client.predict(..., api_name=...)``
MAX_BEAM = 8  # widest beam the slider offers
EXAMPLES = 6  # built-in scenes offered as examples
EXAMPLE_SIDE = 256  # the example scenes are drawn this big (the model resizes them anyway)
SHOWN_SIDE = (192, 320)  # the attention overlays' longer side is scaled into this range (pixels)


def _check_beam(beam: float | None) -> int:
    """The beam size as an int; bad values raise ``ValueError`` with a message for the user."""
    if beam is None or not math.isfinite(beam) or float(beam) != int(beam):
        raise ValueError(f"the beam size must be a whole number, not {beam}")
    if not 1 <= int(beam) <= MAX_BEAM:
        raise ValueError(f"the beam size must be between 1 and {MAX_BEAM}, not {int(beam)}")
    return int(beam)


def display_copy(image: Image.Image) -> Image.Image:
    """``image`` scaled so that its longer side lies in ``SHOWN_SIDE``: big enough to see the
    attention of a tiny scene, small enough that a photo's overlays stay cheap."""
    low, high = SHOWN_SIDE
    side = max(image.size)
    if low <= side <= high:
        return image
    scale = (low if side < low else high) / side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.BICUBIC if scale > 1 else Image.LANCZOS)


def caption_with_attention(run: Run, image: str | None, beam: float):
    """The demo's callback: ``(caption, [(overlay, word), ...])`` for an image file.

    The file is decoded by seqkit (not by gradio), so a file that is not an image, a truncated
    JPEG, a zero-size image or one over the run's pixel limit raises a ``SeqkitError`` that
    names the file as the user knows it.
    """
    beam = _check_beam(beam)
    if not image:
        raise ValueError("upload an image, or pick one of the examples, first")
    picture = open_image(image, run.config.max_pixels, name=Path(image).name)
    result = caption_image(run, picture, beam)
    overlays = result.overlays(display_copy(picture))
    return result.text, list(zip(overlays, result.words))


def photo_examples(run: Run, folder: Path, count: int = EXAMPLES) -> list[str]:
    """For a run with a pretrained encoder trained on a folder of real images: ``count``
    images of that folder's test split (never trained on), written into ``folder`` as PNG at
    most ``EXAMPLE_SIDE * 2`` pixels wide; [] for any other run, or where the data is gone."""
    from seqkit.data import parse_source
    from seqkit_caption.data import read_splits

    recorded = read_config(run.path).get("data") if (run.path / "config.json").is_file() else None
    if not run.config.pretrained or not recorded or recorded == "builtin":
        return []
    try:
        source = parse_source(recorded)
        splits = read_splits(run.config, source) if source.kind == "folder" else {}
    except SeqkitError:
        return []  # the data moved: the demo still serves, with scene examples
    held_out = splits.get("test") or splits.get("valid")
    paths = []
    for i, ref in enumerate((held_out.images if held_out else [])[:count]):
        try:
            picture = open_image(ref, run.config.max_pixels)
        except SeqkitError:
            continue
        picture.thumbnail((EXAMPLE_SIDE * 2, EXAMPLE_SIDE * 2))
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(folder / f"photo-{i}.png")
        paths.append(str(folder / f"photo-{i}.png"))
    return paths


def write_examples(run: Run, folder: Path, count: int = EXAMPLES) -> list[str]:
    """Write ``count`` scenes of the built-in data (with the run's scene settings, drawn at
    ``EXAMPLE_SIDE`` pixels so that they can be seen) as PNG files into ``folder``; returns
    their paths. They are test scenes, whose compositions the training split never shows,
    unless the settings have none (validation scenes then). A run trained on other data still
    gets scene examples."""
    folder.mkdir(parents=True, exist_ok=True)
    scenes = dataclasses.replace(run.config.scenes, canvas=max(EXAMPLE_SIDE,
                                                               run.config.scenes.canvas))
    try:
        examples = example_scenes(count, "test", scenes)
    except SeqkitError:  # settings without held-out scenes (one shape at most, no holdout)
        examples = example_scenes(count, "valid", scenes)
    paths = []
    for i, (image, _caption) in enumerate(examples):
        path = folder / f"scene-{i}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def metrics_line(metrics: dict) -> str:
    """Markdown of the test metrics in a run's ``metrics.json``, each beside the
    nearest-neighbour baseline's; empty when there are none."""
    parts = []
    shown = (("exact_match", "exact match", "{:.1%}"), ("bleu4", "BLEU-4", "{:.1f}"),
             ("cider", "CIDEr-D", "{:.2f}"))
    for key, name, form in shown:
        value, baseline = metrics.get(f"test_{key}"), metrics.get(f"test_baseline_{key}")
        if isinstance(value, (int, float)):
            part = f"{name} **{form.format(value)}**"
            if isinstance(baseline, (int, float)):
                part += f" (nearest-neighbour baseline {form.format(baseline)})"
            parts.append(part)
    return "On the test split: " + ", ".join(parts) + "." if parts else ""


def _header(run: Run, photos: bool = False) -> str:
    """Markdown title and usage (``photos``: the examples are held-out photos of the run's own
    data), with the encoder and the run's test metrics if known."""
    examples = ("held-out photos of the run's test split" if photos else "the built-in scenes "
                "below: test scenes, whose compositions the built-in training split never shows")
    encoder = (f"pretrained {run.config.backbone}" if run.config.pretrained
               else f"{run.config.backbone} trained from scratch")
    lines = [f"# seqkit · {run.task.name}: {run.task.description}",
             f"Run dir: `{run.path}`; image encoder: {encoder}, {run.config.image_size} px, "
             f"a {run.model.grid[0]}x{run.model.grid[1]} attention grid. Upload an image (or "
             f"pick one of {examples}) and press **Caption**. Each image in the grid is one "
             "generated word: bright where the word looked, dim elsewhere."]
    metrics = read_metrics(run.path)  # {} for a run without them: it still demos
    scores = metrics_line(metrics)
    return "\n\n".join(lines + ([scores] if scores else []))


def _image_input(gr, **kwargs):
    """An image upload whose file reaches the callback undecoded.

    ``gr.Image`` opens uploads with Pillow before the callback runs, where a bad file would fail
    with gradio's generic "Error". This variant (a template of ``gr.Image``: same widget in the
    browser) hands over the uploaded file's path instead, so seqkit decodes it and explains
    what is wrong.
    """

    class UploadedImage(gr.Image):
        is_template = True  # the browser draws it with gr.Image's widget

        def preprocess(self, payload):
            if payload is None or not payload.path:
                return super().preprocess(payload)  # nothing, or an inline (base64) image
            return str(payload.path)

    return UploadedImage(type="filepath", image_mode=None, **kwargs)


def build_demo(run: Run):
    """The ``gradio.Blocks`` app of a trained caption run."""
    import gradio as gr

    respond = shows_errors(partial(caption_with_attention, run))
    folder = Path(tempfile.mkdtemp(prefix="seqkit-caption-demo-"))
    photos = photo_examples(run, folder)
    examples = photos or write_examples(run, folder)
    with gr.Blocks(title=f"seqkit {run.task.name} demo") as demo:
        gr.Markdown(_header(run, bool(photos)))
        with gr.Row():
            with gr.Column(scale=2):
                image = _image_input(gr, label="Image", sources=["upload", "clipboard"],
                                     height=320, elem_id="image")
                beam = gr.Slider(1, MAX_BEAM, value=min(run.config.beam, MAX_BEAM), step=1,
                                 label="Beam size", info="1: greedy search", elem_id="beam")
                button = gr.Button("Caption", variant="primary", elem_id="caption-button")
            with gr.Column(scale=3):
                caption = gr.Textbox(label="Caption", interactive=False, elem_id="caption")
                attention = gr.Gallery(label="Attention per word", columns=4, height="auto",
                                       object_fit="contain", format="png",
                                       elem_id="attention")
        gr.Examples([[path] for path in examples], inputs=image,
                    label="Held-out photos" if photos else "Built-in scenes",
                    elem_id="examples")
        button.click(respond, inputs=[image, beam], outputs=[caption, attention],
                     api_name=API_NAME)
    return demo
