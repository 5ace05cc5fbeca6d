"""Character-level LM quality and sampling speed on Tiny Shakespeare.

The text is split as usual: the first 90% of the characters for training, the last 10% for
validation, written to a temporary folder as ``train.txt`` and ``valid.txt``. The ``charlm``
task's default configuration trains for ``--max-time`` seconds through ``seqkit.jobs.train``;
the best validated weights are then evaluated (nats per character) and sampled from at batch 1
with ``seqkit_lm.generate``.

    python benchmarks/charlm.py                   # 900 s of training
    python benchmarks/charlm.py --max-time 60     # a quick check

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, emit, log, machine_info  # noqa: E402

import seqkit  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit_lm.config import CharLMConfig  # noqa: E402
from seqkit_lm.generate import generate  # noqa: E402
from seqkit_lm.task import charlm_task  # noqa: E402


def split_text(source: Path, folder: Path, train_fraction: float = 0.9) -> dict:
    """Write the first ``train_fraction`` of the characters to train.txt, the rest to valid.txt."""
    text = source.read_text(encoding="utf-8")
    cut = int(len(text) * train_fraction)
    (folder / "train.txt").write_text(text[:cut], encoding="utf-8")
    (folder / "valid.txt").write_text(text[cut:], encoding="utf-8")
    return {"train_chars": cut, "valid_chars": len(text) - cut}


def sampling(run_dir: Path, chars: int, warmup: int = 200) -> dict:
    """Characters per second of ``generate`` at batch 1, after a warm-up, and the sample.

    ``generate`` builds the lean ``FastLSTMStep`` and samples through ``seqkit.decoding``, which
    runs PyTorch's native RNN kernels; the timing covers both, as a user's call does.
    """
    run = seqkit.load(run_dir)
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
    generate(run.model, run.assets, "ROMEO:", "char", max_new=warmup, seed=1)
    started = time.perf_counter()
    text = generate(run.model, run.assets, "ROMEO:", "char", max_new=chars, seed=2)
    rate = chars / (time.perf_counter() - started)
    log(f"sampling: {rate:.0f} chars/s")
    return {"sample_chars_per_s": round(rate, 1), "sample": text[:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA / "tinyshakespeare" / "input.txt"))
    parser.add_argument("--max-time", type=float, default=900.0, help="seconds of training")
    parser.add_argument("--eval-every", type=int, default=100,
                        help="validate (and keep the best weights) every N steps, so that a "
                             "run stopped by --max-time mid-epoch still saves recent weights")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: "
                        "the config's)")
    parser.add_argument("--sample-chars", type=int, default=2000)
    parser.add_argument("--out", default="", help="run dir (default: a temporary folder)")
    parser.add_argument("--sample-only", action="store_true",
                        help="skip training; measure sampling of the run in --out")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sample_only:
        if not args.out:
            raise SystemExit("--sample-only needs --out RUN_DIR")
        emit({**sampling(Path(args.out), args.sample_chars), **machine_info()})
        return

    config = CharLMConfig()
    changes = {"max_time": args.max_time, "eval_every": args.eval_every}
    if args.threads is not None:
        changes["threads"] = args.threads
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **changes))
    with tempfile.TemporaryDirectory(prefix="seqkit-shakespeare-") as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        sizes = split_text(Path(args.data), folder)
        out = Path(args.out) if args.out else Path(tmp) / "run"
        log(f"training charlm for {args.max_time:.0f} s into {out} ({sizes})")
        metrics = train(charlm_task, config, Source("folder", path=folder), out, quiet=True)
        log(f"valid loss {metrics['valid_loss']:.4f} nats/char after {metrics['steps']} steps")
        speed = sampling(out, args.sample_chars)
    emit({"valid_loss": round(metrics["valid_loss"], 4),
          "valid_bits_per_char": round(metrics["valid_loss"] / math.log(2), 4),
          **speed, "train_seconds": metrics["elapsed_s"],
          "steps": metrics["steps"], "epochs": metrics["epochs"],
          "max_time": args.max_time, **sizes,
          "config": dataclasses.asdict(config), **machine_info()})


if __name__ == "__main__":
    main()
