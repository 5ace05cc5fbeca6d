"""Caption latency on the CPU: ms per image at batch 1, and images per second at batch 32.

Times ``caption_images`` (decode a PNG file, resize, encode, batched beam search) for the
caption task's default model, after a warm-up, and reports the median of the timed runs. Also
times ``caption_image``, which adds the attention maps that the demo draws.

Without ``--run`` the default config's model is built untrained, with the built-in scenes'
vocabulary. The work per word is the same as a trained model's, but the number of words is
not: an untrained decoder ends its captions at once. So the untrained model is made to write
exactly ``--words`` words (default 16, the longest caption of the built-in scenes) by banning
``<eos>`` and setting ``max_length``: the scenes' worst case. With ``--run`` captions are as
long as the trained model makes them; ``mean_words`` reports what was timed.

    python benchmarks/caption_latency.py                        # untrained default model
    python benchmarks/caption_latency.py --run runs/caption     # a trained run dir
    python benchmarks/caption_latency.py --threads 1 --repeats 20
    python benchmarks/caption_latency.py --photo --images-from ../shared/data/flickr8k-subset/images

``--photo`` builds the untrained model with the photo encoder instead (pretrained
EfficientNet-Lite0 at 224x224, what a new run on real images uses); ``--images-from FOLDER``
times JPEG/PNG files from a folder instead of built-in scenes.

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info  # noqa: E402


def default_run(words: int, photo: bool = False):
    """An untrained model of the caption task's default config (with ``photo``: with the
    photo encoder), as a ``Run`` whose captions are exactly ``words`` words long (``<eos>`` is
    banned; ``max_length`` is ``words``)."""
    import dataclasses

    from seqkit.data import Source
    from seqkit.rundir import Run
    from seqkit.train import seed_all
    from seqkit_caption import task
    from seqkit_caption.pretrained import PHOTO_ENCODER

    config = dataclasses.replace(task.config(), max_length=words,
                                 **(PHOTO_ENCODER if photo else {}))
    data = task.prepare(config, Source("builtin"), None)  # the vocabulary of the scenes
    seed_all(config.train.seed)
    model = task.build_model(config, data.assets).eval()
    output = getattr(model.decoder, "output", None)
    if not isinstance(output, torch.nn.Linear) or output.bias is None:
        raise SystemExit("cannot ban <eos>: the decoder has no 'output' layer with a bias; "
                         "time a trained run with --run instead")
    with torch.no_grad():
        output.bias[data.assets.tokenizer.eos_id] = -1e4  # never end early
    return Run(task, config, model, data.assets, Path("(untrained default model)"))


def folder_files(source: str, count: int) -> list[str]:
    """The first ``count`` JPEG/PNG files of ``source``, sorted by name."""
    found = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in
                   (".jpg", ".jpeg", ".png"))[:count]
    if not found:
        raise SystemExit(f"no JPEG or PNG files in {source}")
    return [str(p) for p in found]


def scene_files(run, count: int, folder: Path) -> list[str]:
    """``count`` test scenes of the built-in data as PNG files (cycled if there are fewer)."""
    from seqkit_caption import example_scenes

    paths = []
    for i, (image, _) in enumerate(example_scenes(count, "test", run.config.scenes)):
        image.save(folder / f"scene-{i}.png")
        paths.append(str(folder / f"scene-{i}.png"))
    return paths


def median_seconds(fn, repeats: int, warmup: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def measure(run, paths: list[str], beam: int, batch: int, repeats: int, warmup: int) -> dict:
    """Batch-1 latency (caption only, and with attention maps) and batch throughput."""
    from seqkit_caption import caption_image, caption_images

    cursor = {"i": 0}

    def one() -> list[str]:  # a different image each call, as a server would see
        cursor["i"] = (cursor["i"] + 1) % len(paths)
        return caption_images(run, [paths[cursor["i"]]], beam)

    words = [len(caption_images(run, [p], beam)[0].split()) for p in paths]
    single, times = median_seconds(one, repeats, warmup)
    log(f"batch 1: median {single * 1e3:.1f} ms (min {min(times) * 1e3:.1f}, "
        f"max {max(times) * 1e3:.1f})")
    with_maps, _ = median_seconds(lambda: caption_image(run, paths[0], beam),
                                  max(repeats // 2, 1), warmup)
    log(f"batch 1 with attention maps: median {with_maps * 1e3:.1f} ms")
    chunk = (paths * (batch // len(paths) + 1))[:batch]
    batched, _ = median_seconds(lambda: caption_images(run, chunk, beam),
                                max(repeats // 10, 3), 1)
    log(f"batch {batch}: median {batched:.3f} s = {batch / batched:.1f} images/s")
    return {"ms_per_image": round(single * 1e3, 2), "ms_p90": round(
                sorted(times)[int(0.9 * (len(times) - 1))] * 1e3, 2),
            "ms_per_image_with_attention": round(with_maps * 1e3, 2),
            f"images_per_s_batch{batch}": round(batch / batched, 1),
            "mean_words": round(sum(words) / len(words), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="", help="a trained caption run dir (default: the "
                        "untrained default model)")
    parser.add_argument("--beam", type=int, default=3, help="beam size (default 3)")
    parser.add_argument("--batch", type=int, default=32, help="batch size for throughput")
    parser.add_argument("--repeats", type=int, default=50, help="timed batch-1 calls")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--images", type=int, default=16, help="distinct test scenes to cycle")
    parser.add_argument("--words", type=int, default=16, help="caption length of the "
                        "untrained model (ignored with --run)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--photo", action="store_true", help="untrained model with the photo "
                        "encoder (pretrained EfficientNet-Lite0, 224 px)")
    parser.add_argument("--images-from", default="", help="time the images of this folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import seqkit

    run = seqkit.load(args.run) if args.run else default_run(args.words, args.photo)
    log(f"model: {run.path}; backbone {run.config.backbone} cut after "
        f"{run.config.cut_after or 'pooling'}, {run.config.image_size}px, grid {run.model.grid}")
    with tempfile.TemporaryDirectory(prefix="seqkit-latency-") as folder:
        paths = (folder_files(args.images_from, args.images) if args.images_from
                 else scene_files(run, args.images, Path(folder)))
        result = measure(run, paths, args.beam, args.batch, args.repeats, args.warmup)
    params = sum(p.numel() for p in run.model.parameters())
    emit({**result, "target_ms": 50.0, "target_met": result["ms_per_image"] <= 50.0,
          "beam": args.beam, "batch": args.batch, "repeats": args.repeats,
          "run": str(run.path), "trained": bool(args.run), "parameters": params,
          "max_length": run.config.max_length, "image_size": run.config.image_size,
          "backbone": run.config.backbone, "images_from": args.images_from or "scenes",
          **machine_info()})


if __name__ == "__main__":
    main()
