"""Decoding images with Pillow: any mode to RGB, a pixel limit, resizing, and attention overlays.

An *image reference* is whatever a data source holds for one image: a path, encoded bytes, a
Hugging Face ``{"bytes", "path"}`` dict, a PIL image, a numpy array, or a function that returns
a PIL image (the built-in scenes draw themselves on demand).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from seqkit.errors import SeqkitError, brief

ImageRef = Any  # str | Path | bytes | dict | Image.Image | np.ndarray | Callable[[], Image.Image]
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


def _describe(ref: ImageRef, name: str | None) -> str:
    if name:
        return name
    return str(ref) if isinstance(ref, (str, Path)) else "the image"


def _open(ref: ImageRef, label: str) -> Image.Image:
    """Open (lazily, for files) the PIL image behind a reference."""
    if callable(ref) and not isinstance(ref, Image.Image):
        ref = ref()
    if isinstance(ref, Image.Image):
        return ref
    if isinstance(ref, np.ndarray):
        return Image.fromarray(ref)
    if isinstance(ref, dict):  # Hugging Face datasets.Image(decode=False)
        ref = ref.get("bytes") or ref.get("path")
    if isinstance(ref, (bytes, bytearray)):
        return Image.open(io.BytesIO(ref))
    if isinstance(ref, (str, Path)):
        if not Path(ref).is_file():
            raise SeqkitError(f"{label}: no such image file")
        return Image.open(ref)
    raise SeqkitError(f"{label}: cannot read an image from a {type(ref).__name__}")


def open_image(ref: ImageRef, max_pixels: int, name: str | None = None,
               draft: int = 0) -> Image.Image:
    """Decode an image reference into a loaded RGB PIL image.

    ``max_pixels`` refuses larger images before they are decoded; ``draft`` (a side in pixels)
    lets the JPEG decoder scale down while decoding when the image is only needed that small.
    Every failure is a ``SeqkitError`` naming the image: not an image, truncated, zero-size, or
    over the limit.
    """
    label = _describe(ref, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _open(ref, label)
            width, height = image.size
            if width == 0 or height == 0:
                raise SeqkitError(f"{label} has zero size ({width}x{height})")
            if width * height > max_pixels:
                raise SeqkitError(
                    f"{label} is {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,}; shrink it, or raise the limit with --max-pixels")
            if draft and image.format == "JPEG":
                image.draft("RGB", (draft, draft))
            image.load()
    except Image.DecompressionBombError as err:
        raise SeqkitError(f"{label} is too large to decode safely ({err}); shrink it") from err
    except UnidentifiedImageError as err:
        raise SeqkitError(f"{label} is not an image that Pillow can read (not an image file, "
                          "an unknown format, or a broken header such as a zero size)") from err
    except (OSError, ValueError, SyntaxError, TypeError) as err:  # truncated or damaged data
        raise SeqkitError(f"{label} is damaged or truncated: {brief(err)}") from err
    if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: turn it upright
        image = ImageOps.exif_transpose(image)
    return to_rgb(image, label)


def to_rgb(image: Image.Image, label: str = "the image") -> Image.Image:
    """Any Pillow mode as 8-bit RGB: 16-bit and float images are scaled to 0..255, transparent
    ones are laid on white, CMYK, palette and grayscale are converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if mode in _SIXTEEN_BIT or (mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0  # 0..65535 -> 0..255
        elif mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0  # float images in 0..1
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in _ALPHA or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as err:
        raise SeqkitError(f"{label} has the image mode {mode}, which cannot be converted to "
                          "RGB") from err


def to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """An RGB image resized (squashed, nothing cropped) to ``(3, size, size)`` uint8."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR, reducing_gap=3.0)
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


class ImageLoader:
    """Image references -> ``(3, size, size)`` uint8 tensors, the first ``cache`` of them kept."""

    def __init__(self, size: int, max_pixels: int, cache: int = 0):
        self.size, self.max_pixels, self.cache_size = size, max_pixels, cache
        self.cache: dict[Any, torch.Tensor] = {}

    def __call__(self, ref: ImageRef, key: Any = None, name: str | None = None) -> torch.Tensor:
        """Decode ``ref`` (or return the cached tensor stored under ``key``)."""
        if key is not None and key in self.cache:
            return self.cache[key]
        pixels = to_tensor(open_image(ref, self.max_pixels, name, draft=self.size), self.size)
        if key is not None and len(self.cache) < self.cache_size:
            self.cache[key] = pixels
        return pixels


def overlay_attention(image: Image.Image, weights: torch.Tensor | np.ndarray,
                      strength: float = 0.75) -> Image.Image:
    """Show where one word attended: the image is dimmed where the weights ``(h, w)`` are low.

    The weights are scaled so their maximum is 1 and stretched smoothly over the image.
    """
    image = to_rgb(image)
    values = np.asarray(weights, dtype=np.float32)
    values = values / max(float(values.max()), 1e-12)
    mask = Image.fromarray(np.uint8(np.rint(values * 255)), "L")
    mask = mask.resize(image.size, Image.BILINEAR)
    light = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    pixels = np.asarray(image, dtype=np.float32) * (1 - strength + strength * light)
    return Image.fromarray(np.uint8(np.clip(np.rint(pixels), 0, 255)), "RGB")
