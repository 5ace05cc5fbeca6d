"""Video inference throughput: frames tagged per second, decoding included.

Writes a video of generated clips (H.264 mp4, ``--frames`` frames at 25 fps) and tags it with
an untrained tagger of each setting below (speed does not depend on the weights), timing the
whole ``tag_video`` call: decoding with PyAV, resizing, the frame CNN, the RNN and the head.

- ``small_cnn`` at 64x64 (the issue's target: at least 500 frames/s on one CPU thread);
- a torchvision backbone (``--backbone``, default resnet18) at 224x224.

    python benchmarks/video_throughput.py
    python benchmarks/video_throughput.py --frames 3000 --backbone mobilenet_v3_small
    python benchmarks/video_throughput.py --mirror     # each clip also tagged mirrored

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info  # noqa: E402

TARGET_64 = 500.0  # frames/s at 64x64, decoding included


def write_test_video(path: Path, frames: int, side: int) -> Path:
    """Built-in clips, back to back, as one mp4 of ``frames`` frames ``side`` pixels square."""
    from seqkit_video import ClipConfig, make_clip, write_video

    pieces, total, index = [], 0, 0
    while total < frames:
        clip = make_clip(ClipConfig(), "test", index).render(side)
        pieces.append(clip)
        total, index = total + len(clip), index + 1
    return write_video(path, np.concatenate(pieces)[:frames], fps=25)


def measure(video: Path, size: int, backbone: str, bidirectional: bool, repeats: int,
            mirror: bool = False) -> dict:
    """Best frames/s of ``repeats`` runs of ``tag_video`` with an untrained tagger."""
    from seqkit.rundir import Run
    from seqkit_video import VideoConfig, tag_video, task
    from seqkit_video.data import VideoAssets
    from seqkit_video.model import build_tagger

    config = dataclasses.replace(VideoConfig(), backbone=backbone, frame_size=size,
                                 bidirectional=bidirectional, mirror=mirror)
    assets = VideoAssets(["empty", "a", "b", "c", "d"])
    run = Run(task, config, build_tagger(config, len(assets.tags)).eval(), assets, video.parent)
    tag_video(run, video)  # warm-up: kernels, allocator
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        tagging = tag_video(run, video)
        best = max(best, len(tagging.times) / (time.perf_counter() - started))
    return {"backbone": backbone, "frame_size": size, "bidirectional": bidirectional,
            "mirror": mirror, "frames": len(tagging.times), "frames_per_s": round(best, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500, help="frames in the test video")
    parser.add_argument("--backbone", default="resnet18", help="torchvision model at 224x224")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--mirror", action="store_true",
                        help="tag each clip and its mirror image (the mirror setting)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="seqkit-video-speed-"))
    load_before = os.getloadavg()
    results = []
    for size, backbone, frames in ((64, "small_cnn", args.frames),
                                   (224, args.backbone, max(args.frames // 10, 50))):
        video = write_test_video(folder / f"clips{size}.mp4", frames, size)
        for bidirectional in (True, False):
            log(f"{backbone} at {size}x{size}, bidirectional={bidirectional}")
            results.append(measure(video, size, backbone, bidirectional, args.repeats,
                                   args.mirror))
    small = [r["frames_per_s"] for r in results if r["backbone"] == "small_cnn"]
    emit({"results": results, "target_64": TARGET_64, "met_64": min(small) >= TARGET_64,
          "load_average_before": load_before, "load_average_after": os.getloadavg(),
          "machine": machine_info()})


if __name__ == "__main__":
    main()
