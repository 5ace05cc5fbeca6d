"""Reading videos (mp4, webm, avi, mkv, ...) with PyAV, and folders of frames with Pillow.

PyAV (``av``) wraps FFmpeg and ships it inside its wheels, so decoding works on a machine
without FFmpeg installed; torchcodec needs the FFmpeg shared libraries from the system and does
not load here. Frames are subsampled to a frame rate, converted to RGB and resized by FFmpeg's
scaler while decoding, and returned as ``(T, H, W, 3)`` uint8 arrays.

Every failure is a ``SeqkitError`` naming the file: not a video, no video stream, truncated,
no frame, or past a limit (file size, resolution, duration, frame count).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from seqkit.errors import SeqkitError

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Limits:
    """What a video may not exceed; past any limit it is refused before it is decoded whole."""

    max_seconds: float = 600.0  # duration
    max_side: int = 4096  # width or height in pixels
    max_megabytes: float = 500.0  # file size
    max_frames: int = 20000  # frames after subsampling

    @classmethod
    def of(cls, config) -> "Limits":
        """The limits a ``VideoConfig`` sets."""
        return cls(config.max_seconds, config.max_side, config.max_megabytes, config.max_frames)


def _open(path: Path | bytes, limits: Limits):
    """Open a container (a file, or a video's bytes) and its first video stream, checking
    size, resolution and duration."""
    import av

    if isinstance(path, (bytes, bytearray)):
        target, size = io.BytesIO(path), len(path)
    elif not path.is_file():
        raise SeqkitError(f"{path}: no such video file")
    else:
        target, size = str(path), path.stat().st_size
    if size / 2**20 > limits.max_megabytes:
        raise SeqkitError(f"{_name(path)} is {size / 2**20:.0f} MB, over the limit of "
                          f"{limits.max_megabytes:g} MB (raise --max-megabytes, or cut the video)")
    try:
        container = av.open(target)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise SeqkitError(f"{_name(path)} is not a readable video ({err}); give an mp4, webm, "
                          "avi or mkv file") from err
    streams = container.streams.video
    if not streams:
        container.close()
        raise SeqkitError(f"{_name(path)} has no video stream")
    stream = streams[0]
    if stream.codec_context is None:  # a codec FFmpeg does not know
        container.close()
        raise SeqkitError(f"{_name(path)} has a video stream in a codec that cannot be decoded "
                          "here; re-encode it, e.g. as H.264 mp4")
    side = max(stream.codec_context.width or 0, stream.codec_context.height or 0)
    seconds = (container.duration or 0) / 1_000_000  # av.time_base units
    problem = (f"is {stream.codec_context.width}x{stream.codec_context.height}, over the limit "
               f"of {limits.max_side} pixels a side (raise --max-side, or scale it down)"
               if side > limits.max_side else
               f"lasts {seconds:.0f} s, over the limit of {limits.max_seconds:g} s (raise "
               "--max-seconds, or cut it)" if seconds > limits.max_seconds else "")
    if problem:
        container.close()
        raise SeqkitError(f"{_name(path)} {problem}")
    stream.thread_type = "AUTO"
    return container, stream


def _name(path: Path | bytes) -> str:
    return "the video" if isinstance(path, (bytes, bytearray)) else str(path)


def _as_source(path: str | Path | bytes) -> Path | bytes:
    return path if isinstance(path, (bytes, bytearray)) else Path(path)


def video_info(path: str | Path | bytes, limits: Limits = Limits()) -> dict:
    """Facts about a video without decoding it: ``width``, ``height``, ``fps``, ``seconds``,
    ``frames`` (the container's count, 0 when unknown)."""
    container, stream = _open(_as_source(path), limits)
    with container:
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        return {"width": stream.codec_context.width, "height": stream.codec_context.height,
                "fps": rate, "seconds": (container.duration or 0) / 1_000_000,
                "frames": int(stream.frames or 0)}


def iter_frames(path: str | Path | bytes, size: int, fps: float = 0.0, limits: Limits = Limits(),
                chunk: int = 256) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Decode a video in pieces of at most ``chunk`` frames: ``(frames (t, size, size, 3)
    uint8, numbers (t,) of the frames in the file from 0, times (t,) in seconds)``, keeping one
    frame every ``1 / fps`` seconds (``fps`` 0: every frame). Memory stays bounded by
    ``chunk`` however long the video is."""
    import av

    path = _as_source(path)
    container, stream = _open(path, limits)
    kept, decoded, next_time, time, piece, where = 0, 0, 0.0, 0.0, [], []
    try:
        with container:
            expected = _expected_end(container, stream)
            for frame in container.decode(stream):
                time, decoded = float(frame.time or 0.0), decoded + 1
                if time > limits.max_seconds:
                    raise SeqkitError(f"{_name(path)} runs past the limit of {limits.max_seconds:g} s "
                                      "(raise --max-seconds, or cut it)")
                if fps > 0 and time + 1e-6 < next_time:
                    continue
                next_time = (next_time if fps <= 0 else max(next_time + 1 / fps, time))
                piece.append(frame.to_ndarray(width=size, height=size, format="rgb24"))
                where.append((decoded - 1, time))
                kept += 1
                if kept > limits.max_frames:
                    raise SeqkitError(f"{_name(path)} has more than {limits.max_frames} frames "
                                      "(raise --max-frames, or lower --fps)")
                if len(piece) == chunk:
                    yield _piece(piece, where)
                    piece, where = [], []
    except av.FFmpegError as err:
        raise SeqkitError(f"{_name(path)} is damaged or truncated ({err})") from err
    if kept == 0:
        raise SeqkitError(f"{_name(path)} holds no decodable frame (empty or truncated video)")
    if decoded < expected[0] * 0.9 or time < expected[1] * 0.9 - 0.5:
        raise SeqkitError(f"{_name(path)} is truncated: only {decoded} frames ({time:.1f} s) of the "
                          f"{expected[0] or '?'} frames ({expected[1]:.1f} s) its header promises "
                          "could be decoded")
    if piece:
        yield _piece(piece, where)


def _piece(frames: list, where: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    numbers, times = zip(*where)
    return np.stack(frames), np.array(numbers), np.array(times)


def _expected_end(container, stream) -> tuple[int, float]:
    """(frames, seconds) the header promises (0 where it does not say)."""
    seconds = (container.duration or 0) / 1_000_000
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    return int(stream.frames or 0), seconds


def read_video(path: str | Path | bytes, size: int, fps: float = 0.0,
               limits: Limits = Limits()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole video: ``(frames (T, size, size, 3) uint8, numbers (T,), times (T,))`` (see
    ``iter_frames``)."""
    pieces = list(iter_frames(path, size, fps, limits))
    return tuple(np.concatenate(parts) for parts in zip(*pieces))  # type: ignore[return-value]


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a frame folder, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SeqkitError(f"{folder}: no such frame folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise SeqkitError(f"{folder} holds no frame images ({', '.join(FRAME_SUFFIXES)})")
    return files


def _image(ref) -> tuple[Image.Image, str]:
    """Open a frame: a path, encoded bytes, a Hugging Face ``{"bytes", "path"}`` dict, or a
    PIL image. Returns the image and a name for messages."""
    if isinstance(ref, Image.Image):
        return ref, "a frame"
    if isinstance(ref, dict):
        ref = ref.get("bytes") or ref.get("path")
    if isinstance(ref, (bytes, bytearray)):
        return Image.open(io.BytesIO(ref)), "a frame"
    return Image.open(ref), str(ref)


def read_frames(refs: list, size: int, limits: Limits = Limits()) -> np.ndarray:
    """Frames (image files, bytes or PIL images) -> ``(T, size, size, 3)`` uint8, each
    converted to RGB and resized."""
    if len(refs) > limits.max_frames:
        raise SeqkitError(f"{len(refs)} frames are more than the limit of {limits.max_frames} "
                          "(raise --max-frames)")
    out = np.empty((len(refs), size, size, 3), dtype=np.uint8)
    for i, ref in enumerate(refs):
        name = str(ref) if isinstance(ref, (str, Path)) else f"frame {i + 1}"
        try:
            image, name = _image(ref)
            if max(image.size) > limits.max_side:
                raise SeqkitError(f"{name} is {image.size[0]}x{image.size[1]}, over the limit "
                                  f"of {limits.max_side} pixels a side")
            image.draft("RGB", (size, size))  # JPEG: scale while decoding
            out[i] = np.asarray(image.convert("RGB").resize((size, size),
                                                            Image.Resampling.BILINEAR))
        except (OSError, UnidentifiedImageError) as err:
            raise SeqkitError(f"{name} is not a readable image ({err})") from err
    return out


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25.0,
                codec: str = "libx264") -> Path:
    """Write ``(T, H, W, 3)`` uint8 frames as a video (H and W even for H.264), atomically."""
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=round(fps))
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            for array in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
