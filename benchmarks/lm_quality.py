"""Word-LM quality on Penn Treebank within a time budget, through the ``seqkit train`` CLI.

Runs ``seqkit train --task lm --data PTB --max-time SECONDS`` with the lm task's default
configuration (or with ``--set KEY=VALUE`` overrides, passed on as ``--KEY VALUE``), then reads
the run dir's ``metrics.json``: the best validated weights' perplexity on valid (and test, when
the folder has a test split).

    python benchmarks/lm_quality.py                          # defaults, 30 minutes
    python benchmarks/lm_quality.py --max-time 120           # a quick check
    python benchmarks/lm_quality.py --set train.lr=10 --set dropout=0.3

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, emit, log, machine_info  # noqa: E402
from seqkit.threads import choose_threads  # noqa: E402


def override_flags(settings: list[str]) -> list[str]:
    """``["train.lr=10", ...]`` -> ``["--train.lr", "10", ...]`` for the CLI."""
    flags = []
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE, got '{setting}'")
        flags += [f"--{key}", value]
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA / "ptb"), help="folder with ptb.*.txt")
    parser.add_argument("--max-time", type=float, default=1800.0, help="seconds of training")
    parser.add_argument("--out", default="", help="run dir (default: a new temporary folder)")
    parser.add_argument("--config", default="", help="a config file for seqkit train (TOML/YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. train.lr=10 or hidden_size=650 (repeatable)")
    args = parser.parse_args()

    folder = Path(args.data)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="seqkit-lm-")) / "run"
    seqkit = Path(sys.executable).with_name("seqkit")
    command = [str(seqkit) if seqkit.exists() else "seqkit", "train", "--task", "lm",
               "--data", str(folder), "--out", str(out), "--max-time", str(args.max_time),
               *(["--config", args.config] if args.config else []), *override_flags(args.set)]
    log("running", " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=sys.stderr)
    wall = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())["config"]
    result = {"valid_ppl": round(metrics["valid_ppl"], 2)}
    if "test_ppl" in metrics:
        result["test_ppl"] = round(metrics["test_ppl"], 2)
    result.update(train_seconds=metrics["elapsed_s"], wall_seconds=round(wall, 1),
                  epochs=metrics["epochs"], steps=metrics["steps"],
                  best_valid_loss=metrics["best_valid_loss"], max_time=args.max_time,
                  config_file=args.config, overrides=args.set, out=str(out), config=config,
                  **machine_info())
    # the training ran in the CLI's process, at the count its config chose (0: the thread rule)
    result["torch_threads"] = choose_threads(config["train"]["threads"])
    if not math.isfinite(metrics["best_valid_loss"]):
        log("no validation finished inside the time budget")
    emit(result)


if __name__ == "__main__":
    main()
