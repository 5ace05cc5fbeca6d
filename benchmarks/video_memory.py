"""Peak memory of streamed video tagging: 1-minute and 10-minute clips, at 25 fps.

For each length, writes a 64x64 H.264 video of generated clips; then one fresh process tags
it with a unidirectional tagger that streams the video ``bptt`` frames at a time, carrying
the RNN state, and another trains that tagger over the whole clip with truncated BPTT
(``stream=True``, chunks of ``bptt`` frames). Each reports its peak resident set size
(``VmHWM``). Flat memory: the 10-minute numbers stay near the 1-minute
ones, although the clip is ten times longer.

    python benchmarks/video_memory.py
    python benchmarks/video_memory.py --minutes 1 5 --frame-size 32

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info  # noqa: E402
from video_throughput import write_test_video  # noqa: E402


def peak_mb() -> float:
    """This process's peak resident set size so far (``VmHWM``), in MiB. Unlike
    ``ru_maxrss``, which Linux carries across ``exec`` from the parent that forked the
    process, it counts this program's memory only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(phase: str, video: Path, frame_size: int, bptt: int, train_steps: int) -> None:
    """Tag ``video`` streamed (``phase`` "tag") or train on it streamed ("train"); print
    the peak as JSON."""
    import torch

    torch.set_num_threads(1)
    from seqkit.rundir import Run
    from seqkit.train import repackage_state
    from seqkit_video import VideoConfig, tag_video, task, video_info
    from seqkit_video.config import ClipConfig
    from seqkit_video.data import VideoAssets, make_batches
    from seqkit_video.model import build_tagger
    from seqkit_video.sources import VideoExample

    out = {"imports_mb": round(peak_mb(), 1)}  # torch and the plugin loaded, nothing run
    config = VideoConfig(frame_size=frame_size, bidirectional=False, stream=True,
                         clips=ClipConfig(train_clips=0, valid_clips=0, test_clips=0))
    assets = VideoAssets(["empty", "a", "b"])
    model = build_tagger(config, len(assets.tags))
    run = Run(task, config, model.eval(), assets, video.parent)
    if phase == "tag":
        started = time.perf_counter()
        tagging = tag_video(run, video, chunk=bptt, strip=8)
        print(json.dumps({**out, "frames": len(tagging.times), "tag_peak_mb": round(peak_mb(), 1),
                          "tag_seconds": round(time.perf_counter() - started, 1)}))
        return
    frames = round(video_info(video)["seconds"] * 25)
    example = VideoExample(video.name, "video", video, frames,
                           segments=((0, frames // 2, "a"),))
    config = VideoConfig(**{**config.__dict__, "train": config.train.__class__(
        batch_size=1, bptt=bptt, optimizer="adam", lr=1e-3)})
    batches = make_batches("train", [example], config, assets)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    state, steps, started = None, 0, time.perf_counter()
    for batch in batches.epoch(0):
        loss, _, state = task.loss(model, batch, repackage_state(state))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        if train_steps and steps >= train_steps:
            break
    out.update(train_steps=steps, train_seconds=round(time.perf_counter() - started, 1),
               train_peak_mb=round(peak_mb(), 1))
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--frame-size", type=int, default=64, help="frames are this square")
    parser.add_argument("--bptt", type=int, default=64, help="frames per streamed chunk")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="stop training after this many chunks (0: the whole clip)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # PHASE VIDEO
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), args.frame_size, args.bptt,
                     args.train_steps)
    import torch

    torch.set_num_threads(1)  # the children use one thread; say so in the machine facts
    folder = Path(tempfile.mkdtemp(prefix="seqkit-video-memory-"))
    load_before = os.getloadavg()
    results = []
    for minutes in args.minutes:
        frames = round(minutes * 60 * 25)
        log(f"writing a {minutes:g}-minute video ({frames} frames)")
        video = write_test_video(folder / f"{minutes:g}min.mp4", frames, args.frame_size)
        result = {"minutes": minutes, "megabytes": round(video.stat().st_size / 2**20, 2)}
        for phase in ("tag", "train"):
            log(f"{phase} in a fresh process")
            done = subprocess.run([sys.executable, __file__, "--child", phase, str(video),
                                   "--frame-size", str(args.frame_size), "--bptt",
                                   str(args.bptt), "--train-steps", str(args.train_steps)],
                                  check=True, capture_output=True, text=True)
            result.update(json.loads(done.stdout.strip().splitlines()[-1]))
        results.append(result)
    emit({"results": results, "frame_size": args.frame_size, "bptt": args.bptt,
          "load_average_before": load_before, "load_average_after": os.getloadavg(),
          "machine": machine_info()})


if __name__ == "__main__":
    main()
