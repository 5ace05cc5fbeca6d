"""Image decoding: every Pillow mode, tiny and huge images, and bad files with clear errors."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from seqkit.errors import SeqkitError
from seqkit_caption.images import ImageLoader, open_image, overlay_attention, to_tensor

LIMIT = 40_000_000
SIZE = 9


def decoded(path_or_image) -> torch.Tensor:
    return to_tensor(open_image(path_or_image, LIMIT), SIZE)


def centre(pixels: torch.Tensor) -> list[int]:
    return pixels[:, SIZE // 2, SIZE // 2].tolist()


def plain(mode: str) -> Image.Image:
    """A 13x11 image of the colour (200, 30, 60) in ``mode`` (bilevel: white)."""
    if mode == "1":
        return Image.new("1", (13, 11), 1)
    if mode == "P":
        image = Image.new("P", (13, 11), 5)
        image.putpalette([0, 0, 0] * 5 + [200, 30, 60] + [0, 0, 0] * 250)
        return image
    return Image.new("RGB", (13, 11), (200, 30, 60)).convert(mode)


@pytest.mark.parametrize("mode, suffix, expected", [
    ("L", ".png", [84, 84, 84]),  # luma 0.299 * 200 + 0.587 * 30 + 0.114 * 60 = 84.25
    ("RGBA", ".png", [200, 30, 60]),
    ("CMYK", ".jpg", None),
    ("CMYK", ".tif", [200, 30, 60]),
    ("P", ".png", [200, 30, 60]),
    ("P", ".gif", [200, 30, 60]),
    ("1", ".png", [255, 255, 255]),
    ("LA", ".png", [84, 84, 84]),
    ("YCbCr", ".jpg", None),
])
def test_every_mode_becomes_rgb(tmp_path, mode, suffix, expected):
    path = tmp_path / f"image{suffix}"
    plain(mode).save(path)
    pixels = decoded(path)
    assert pixels.shape == (3, SIZE, SIZE) and pixels.dtype == torch.uint8
    if expected is None:  # lossy: close to the colour
        assert np.allclose(centre(pixels), [200, 30, 60], atol=12)
    else:
        assert np.allclose(centre(pixels), expected, atol=1)


def test_transparency_is_laid_on_white(tmp_path):
    image = Image.new("RGBA", (7, 7), (10, 20, 30, 0))
    image.save(tmp_path / "clear.png")
    assert centre(decoded(tmp_path / "clear.png")) == [255, 255, 255]
    palette = Image.new("P", (7, 7), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.save(tmp_path / "palette.png", transparency=0)
    assert centre(decoded(tmp_path / "palette.png")) == [255, 255, 255]


def test_sixteen_bit_and_float_images_are_scaled(tmp_path):
    deep = Image.fromarray(np.full((5, 7), 65535 // 2, dtype=np.uint16))
    assert deep.mode == "I;16"
    deep.save(tmp_path / "deep.png")
    assert centre(decoded(tmp_path / "deep.png")) == [127, 127, 127]
    wide = Image.fromarray(np.full((5, 7), 65535, dtype=np.int32), "I")
    assert centre(decoded(wide)) == [255, 255, 255]
    unit = Image.fromarray(np.full((5, 7), 0.5, dtype=np.float32), "F")
    unit.save(tmp_path / "unit.tif")
    assert centre(decoded(tmp_path / "unit.tif")) == [128, 128, 128]


def test_other_references(tmp_path):
    array = np.zeros((6, 4, 3), dtype=np.uint8)
    array[..., 1] = 99
    assert centre(decoded(array)) == [0, 99, 0]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    assert centre(decoded(buffer.getvalue())) == [0, 99, 0]
    assert centre(decoded({"bytes": buffer.getvalue(), "path": None})) == [0, 99, 0]
    assert centre(decoded(lambda: Image.fromarray(array))) == [0, 99, 0]


def test_tiny_and_huge_images_are_resized(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "dot.png")
    assert centre(decoded(tmp_path / "dot.png")) == [1, 2, 3]
    Image.new("RGB", (4000, 3000), (50, 60, 70)).save(tmp_path / "big.jpg", quality=95)
    pixels = decoded(tmp_path / "big.jpg")
    assert pixels.shape == (3, SIZE, SIZE)
    assert np.allclose(centre(pixels), [50, 60, 70], atol=3)


def test_over_the_pixel_limit_is_a_clear_error(tmp_path):
    Image.new("RGB", (41, 30)).save(tmp_path / "wide.png")
    with pytest.raises(SeqkitError, match=r"wide.png is 41x30 = 1,230 pixels, over the limit "
                                          r"of 1,000.*--max-pixels"):
        open_image(tmp_path / "wide.png", 1000)


def test_not_an_image(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are words, not pixels")
    with pytest.raises(SeqkitError, match="notes.jpg is not an image that Pillow can read"):
        open_image(tmp_path / "notes.jpg", LIMIT)


def test_truncated_jpeg(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(SeqkitError, match="cut.jpg is damaged or truncated"):
        open_image(tmp_path / "cut.jpg", LIMIT)


def test_zero_size_images(tmp_path):
    with pytest.raises(SeqkitError, match=r"has zero size \(0x5\)"):
        open_image(Image.new("RGB", (0, 5)), LIMIT, name="empty")
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
           + struct.pack(">I", zlib.crc32(chunk)))
    (tmp_path / "zero.png").write_bytes(png)
    with pytest.raises(SeqkitError, match="zero.png is not an image .* zero size"):
        open_image(tmp_path / "zero.png", LIMIT)


def test_missing_file(tmp_path):
    with pytest.raises(SeqkitError, match="gone.png: no such image file"):
        open_image(tmp_path / "gone.png", LIMIT)


def test_loader_caches_up_to_its_size(tmp_path):
    loader = ImageLoader(SIZE, LIMIT, cache=1)
    first = loader(lambda: Image.new("RGB", (3, 3), (9, 9, 9)), key="a")
    assert loader(lambda: Image.new("RGB", (3, 3)), key="a") is first
    loader(lambda: Image.new("RGB", (3, 3)), key="b")
    assert list(loader.cache) == ["a"]


def test_overlay_dims_where_attention_is_low():
    image = Image.new("RGB", (20, 10), (200, 200, 200))
    out = overlay_attention(image, torch.tensor([[0.0, 1.0]]))
    assert out.size == (20, 10)
    left, right = out.getpixel((0, 5)), out.getpixel((19, 5))
    assert right == (200, 200, 200) and left[0] < 100
