"""Captioning images with a trained run: from Python, ``seqkit predict``, and the demo.

::

    import seqkit
    from seqkit_caption import caption_image
    run = seqkit.load("runs/caption")
    result = caption_image(run, "photo.jpg", beam=3)
    print(result.text)              # "a small red circle left of a large blue square"
    result.attention.shape          # (words, grid_h, grid_w): where each word looked
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from seqkit.config import bounded
from seqkit.errors import SeqkitError
from seqkit.rundir import Run
from seqkit_caption.images import ImageRef, open_image, overlay_attention, to_tensor
from seqkit_caption.scenes import example_scenes


@dataclass
class PredictOptions:
    """Options of ``seqkit predict RUN`` for captions."""

    image: str = ""  # the image file to caption
    examples: int = bounded(0, ">= 0")  # or caption this many held-out built-in scenes, beside their descriptions
    beam: int = bounded(3, ">= 1")  # beam size (1: greedy search)


@dataclass
class Caption:
    """A generated caption with the attention behind each word."""

    words: list[str]  # the caption, <eos> excluded
    attention: torch.Tensor  # (len(words), grid_h, grid_w) weights; each map sums to 1

    @property
    def text(self) -> str:
        """The caption as one string."""
        return " ".join(self.words)

    def overlays(self, image: Image.Image) -> list[Image.Image]:
        """One copy of ``image`` per word, dimmed where that word did not look."""
        return [overlay_attention(image, weights) for weights in self.attention]


def image_batch(run: Run, images: list[ImageRef]) -> torch.Tensor:
    """Decode images (paths, PIL images, bytes, arrays) into a ``(B, 3, S, S)`` uint8 batch on
    the run's device, with the run's size and pixel limit."""
    config = run.config
    pixels = [to_tensor(open_image(img, config.max_pixels, draft=config.image_size),
                        config.image_size) for img in images]
    return torch.stack(pixels).to(next(run.model.parameters()).device)


def _check_beam(beam: int) -> None:
    if beam < 1:
        raise SeqkitError(f"the beam size must be at least 1, not {beam}")


def _words(run: Run, ids: list[int]) -> list[str]:
    return [run.assets.tokenizer.id_to_token(i) for i in ids]


@torch.no_grad()
def caption_images(run: Run, images: list[ImageRef], beam: int | None = None) -> list[str]:
    """Caption many images in one batched beam search; returns one string per image."""
    beam = run.config.beam if beam is None else beam
    _check_beam(beam)
    if not images:
        return []
    run.model.eval()
    ids = run.model.caption(image_batch(run, images), beam, run.config.max_length)
    return [run.assets.tokenizer.decode(row) for row in ids]


@torch.no_grad()
def caption_image(run: Run, image: ImageRef, beam: int | None = None) -> Caption:
    """Caption one image (a path, PIL image, bytes or array) with beam search, and return the
    words with their attention maps ``(words, grid_h, grid_w)`` over the image."""
    beam = run.config.beam if beam is None else beam
    _check_beam(beam)
    run.model.eval()
    memory = run.model.encode(image_batch(run, [image]))
    ids = run.model.generate(memory, beam, run.config.max_length)[0]
    weights = run.model.attention(memory, [ids])[0]  # (words, S)
    return Caption(_words(run, ids), weights.view(len(ids), *run.model.grid))


def scene_examples(run: Run, count: int, beam: int | None = None) -> str:
    """Caption ``count`` test scenes of the built-in data (compositions held out of training),
    and show each caption above the scene's true description."""
    if count < 1:
        raise SeqkitError(f"--examples must be at least 1, not {count}")
    scenes = example_scenes(count, "test", run.config.scenes)
    said = caption_images(run, [image for image, _ in scenes], beam)
    right = sum(s == truth for s, (_, truth) in zip(said, scenes))
    lines = [f"{right} of {count} held-out scenes captioned exactly:"]
    for i, (caption, (_, truth)) in enumerate(zip(said, scenes), start=1):
        mark = "ok" if caption == truth else "--"
        lines += [f"{i:>3} {mark}  model: {caption or '(no words)'}", f"        scene: {truth}"]
    return "\n".join(lines)


def predict(run: Run, options: PredictOptions) -> str:
    """``seqkit predict RUN --image PATH [--beam N]``: the caption of the image;
    ``--examples N``: captions of N held-out built-in scenes beside their descriptions."""
    if options.image and options.examples:
        raise SeqkitError("give --image PATH or --examples N, not both")
    if options.examples:
        return scene_examples(run, options.examples, options.beam)
    if not options.image:
        raise SeqkitError("give the image to caption (--image PATH), or --examples N")
    text = caption_image(run, options.image, options.beam).text
    return text or "(the model ended the caption at once, with no word: is it trained?)"
