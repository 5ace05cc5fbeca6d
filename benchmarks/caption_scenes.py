"""Captioning the built-in scenes: exact match on held-out compositions within a time budget.

Trains the caption task's default config (or one with ``--set KEY=VALUE`` overrides) on the
built-in scenes for at most ``--max-time`` seconds, then reports what the run dir's
``metrics.json`` holds for the best validated weights on the test split, whose every scene
holds a pair of shapes never seen side by side in training: exact match, BLEU-4 and CIDEr-D,
beside the nearest-neighbour baseline's.

    python benchmarks/caption_scenes.py                       # defaults, 10 minutes
    python benchmarks/caption_scenes.py --max-time 60         # a quick check
    python benchmarks/caption_scenes.py --set train.lr=0.001 --set hidden_size=384
    python benchmarks/caption_scenes.py --seeds 1,2,3,4,5 --max-time 180 --threads 1

``--seeds`` trains one run per seed, one after the other, and reports each (valid exact match
by validation, test metrics, training seconds and steps, the load average at its start and end)
and whether every seed met the target.

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info, settings_tree  # noqa: E402

TARGET_EXACT = 0.95  # the target: exact match on held-out compositions
REPORTED = ("exact_match", "baseline_exact_match", "bleu4", "baseline_bleu4", "cider",
            "baseline_cider", "bleu1", "loss", "images")


def apply_overrides(config, settings: list[str], max_time: float, threads: int):
    """The config with ``["train.lr=0.001", ...]`` applied, and the time and thread limits."""
    from seqkit.config import from_dict

    return from_dict(type(config), settings_tree(settings, max_time, threads), base=config)


def train_and_report(config, source, out: Path, split: str = "test") -> dict:
    """Train into ``out`` and return the run's metrics: ``split``'s (unprefixed) plus the
    training facts (seconds, steps, epochs) and the wall time including evaluation."""
    from seqkit.jobs import train
    from seqkit_caption import task

    log(f"training into {out} for at most {config.train.max_time:.0f} s")
    started = time.perf_counter()
    metrics = train(task, config, source, out, quiet=True)
    wall = time.perf_counter() - started
    result = {key: metrics[f"{split}_{key}"] for key in REPORTED if f"{split}_{key}" in metrics}
    for key in ("exact_match", "bleu4", "cider"):
        if f"valid_{key}" in metrics:
            result[f"valid_{key}"] = metrics[f"valid_{key}"]
    result.update(train_seconds=metrics["elapsed_s"], wall_seconds=round(wall, 1),
                  steps=metrics["steps"], epochs=metrics["epochs"])
    return result


def load_average() -> float:
    """The 1-minute load average (how many jobs shared the CPU), or -1 where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


def valid_curve(out: Path) -> list[list]:
    """``[[step, valid exact match], ...]`` from the run's ``metrics.jsonl``."""
    curve = []
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("split") == "valid" and "exact_match" in record:
            curve.append([record["step"], round(record["exact_match"], 4)])
    return curve


def seeded_runs(config, source, seeds: list[int], folder: Path) -> list[dict]:
    """Train one run per seed into ``folder/seed-S`` and report each."""
    import dataclasses

    results = []
    for seed in seeds:
        seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        out, load = folder / f"seed-{seed}", load_average()
        result = train_and_report(seeded, source, out)
        results.append({"seed": seed, "valid_exact_match_curve": valid_curve(out), **result,
                        "load_start": load, "load_end": load_average()})
        log(f"seed {seed}: test exact match {result.get('exact_match', 0.0):.3f}")
    return results


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options of every caption benchmark that trains: budget, run dir, threads, overrides."""
    parser.add_argument("--max-time", type=float, default=600.0, help="seconds of training")
    parser.add_argument("--out", default="", help="run dir (default: a new temporary folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. train.lr=0.001 (repeatable)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_training_options(parser)
    parser.add_argument("--seeds", default="", help="comma-separated seeds: one run each "
                        "(e.g. 1,2,3,4,5); default: one run at the config's seed")
    args = parser.parse_args()

    from seqkit.data import Source
    from seqkit_caption import task

    config = apply_overrides(task.config(), args.set, args.max_time, args.threads)
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="seqkit-scenes-"))
    common = {"max_time": args.max_time, "overrides": args.set, "out": str(folder),
              "test_images": config.scenes.test_images,
              "train_images": config.scenes.train_images, **machine_info()}
    if args.seeds:
        runs = seeded_runs(config, Source("builtin"), [int(s) for s in args.seeds.split(",")],
                           folder)
        worst = min(run.get("exact_match", 0.0) for run in runs)
        emit({"runs": runs, "min_exact_match": worst, "target_exact_match": TARGET_EXACT,
              "target_met": worst >= TARGET_EXACT, **common})
        return
    out = folder if args.out else folder / "run"
    load = load_average()
    result = train_and_report(config, Source("builtin"), out)
    exact = result.get("exact_match", 0.0)
    log(f"test exact match {exact:.3f} (baseline {result.get('baseline_exact_match')})")
    emit({**result, "valid_exact_match_curve": valid_curve(out), "load_start": load,
          "load_end": load_average(), "target_exact_match": TARGET_EXACT,
          "target_met": exact >= TARGET_EXACT, **common, "out": str(out)})


if __name__ == "__main__":
    main()
