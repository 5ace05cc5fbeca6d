"""Video files written with PyAV are read back whole; bad videos get clear errors."""
from __future__ import annotations

import av
import numpy as np
import pytest

from seqkit.errors import SeqkitError
from seqkit_video.decode import (Limits, frame_files, iter_frames, read_frames, read_video,
                                 video_info, write_video)


def _frames(count: int = 23, side: int = 32) -> np.ndarray:
    """Frames whose brightness counts up, so order and subsampling can be checked."""
    ramp = np.linspace(20, 230, count).astype(np.uint8)
    return np.broadcast_to(ramp[:, None, None, None], (count, side, side, 3)).copy()


@pytest.mark.parametrize("suffix,codec", [(".mp4", "libx264"), (".webm", "libvpx-vp9"),
                                          (".avi", "mpeg4"), (".mkv", "libx264")])
def test_written_video_reads_back_with_every_frame(tmp_path, suffix, codec):
    frames = _frames()
    path = write_video(tmp_path / f"ramp{suffix}", frames, fps=25, codec=codec)
    video, numbers, times = read_video(path, 19)
    assert video.shape == (23, 19, 19, 3)
    assert numbers.tolist() == list(range(23))
    assert times[1] == pytest.approx(0.04, abs=1e-3)
    brightness = video.reshape(23, -1).mean(1)
    assert np.all(np.diff(brightness) > 0), "frames out of order"
    assert np.abs(brightness - frames.reshape(23, -1).mean(1)).max() < 12


def test_frame_rate_subsampling(tmp_path):
    path = write_video(tmp_path / "ramp.mp4", _frames(50), fps=25)  # 2 s
    video, numbers, times = read_video(path, 16, fps=5)
    assert len(video) == 10
    assert numbers.tolist() == list(range(0, 50, 5))
    assert np.allclose(np.diff(times), 0.2, atol=1e-3)


def test_streaming_keeps_pieces_small(tmp_path):
    path = write_video(tmp_path / "ramp.mp4", _frames(50), fps=25)
    pieces = list(iter_frames(path, 16, chunk=7))
    assert [len(p[0]) for p in pieces] == [7] * 7 + [1]
    assert np.concatenate([p[1] for p in pieces]).tolist() == list(range(50))


def test_bytes_read_like_the_file(tmp_path):
    path = write_video(tmp_path / "ramp.webm", _frames(), fps=25, codec="libvpx-vp9")
    assert np.array_equal(read_video(path.read_bytes(), 16)[0], read_video(path, 16)[0])
    assert video_info(path)["width"] == 32


def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    with pytest.raises(SeqkitError, match="notes.mp4 is not a readable video"):
        read_video(path, 16)


@pytest.mark.parametrize("suffix,codec", [(".mkv", "libx264"), (".avi", "mpeg4"),
                                          (".mp4", "libx264")])
def test_truncated_video(tmp_path, suffix, codec):
    whole = write_video(tmp_path / f"whole{suffix}", _frames(60), fps=25, codec=codec)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(SeqkitError, match=rf"cut\{suffix} (is truncated|is not a readable)"):
        read_video(cut, 16)


def test_zero_frame_video(tmp_path):
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    with pytest.raises(SeqkitError, match="empty.mkv (is not a readable|holds no decodable)"):
        read_video(path, 16)


@pytest.mark.parametrize("limits,message", [
    (Limits(max_megabytes=1e-4), r"over the limit of 0.0001 MB"),
    (Limits(max_side=31), r"32x32, over the limit of 31 pixels"),
    (Limits(max_seconds=1.0), r"over the limit of 1 s"),
    (Limits(max_frames=40), r"more than 40 frames"),
])
def test_limits(tmp_path, limits, message):
    path = write_video(tmp_path / "ramp.mp4", _frames(50), fps=25)
    with pytest.raises(SeqkitError, match=message):
        read_video(path, 16, limits=limits)


def test_frame_folder(tmp_path):
    from PIL import Image

    for i, frame in enumerate(_frames(5, 20)):
        Image.fromarray(frame).save(tmp_path / f"img_{i + 1:05d}.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    files = frame_files(tmp_path)
    assert [f.name for f in files][:2] == ["img_00001.jpg", "img_00002.jpg"]
    assert read_frames(files, 13).shape == (5, 13, 13, 3)
    (tmp_path / "img_00006.jpg").write_bytes(b"broken")
    with pytest.raises(SeqkitError, match="img_00006.jpg is not a readable image"):
        read_frames(frame_files(tmp_path), 13)
