"""Translate benchmarks (one thread): G2P on CMUdict, Multi30k, and decoding speed.

    python benchmarks/translate.py g2p [--minutes 25]
    python benchmarks/translate.py multi30k [--src de --tgt en] [--minutes 60]
    python benchmarks/translate.py speed RUN_DIR [--sentences 1000]
    python benchmarks/translate.py g2p --set hidden_size=384 --set g2p.stress=false

``--set KEY=VALUE`` (repeatable) changes the g2p or multi30k config (``train.lr=0.001``).

Targets (issue 9): G2P with 5% of the words held out: WER <= 25%, PER <= 6%; Multi30k de->en
sacreBLEU >= 30 on val after <= 60 minutes of training; greedy batched decoding >= 200
sentences/s (beam 5 reported too). Each run prints progress on stderr and one JSON object on
the last line of stdout, with the load average at start and end and the steps done: under a
shared CPU a time-capped run does fewer steps than a quiet machine would.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, emit, log, machine_info, settings_tree  # noqa: E402

from seqkit.config import from_dict  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit.train import evaluate  # noqa: E402
from seqkit_translate import G2PConfig, TranslateConfig, task, translate  # noqa: E402


def g2p_config(minutes: float) -> TranslateConfig:
    """Characters -> phonemes: 5% of the words for validation, 5% for the test."""
    config = TranslateConfig(embed_size=64, encoder_size=128, hidden_size=256,
                             attention_size=128, dropout=0.2, label_smoothing=0.1, beam=5,
                             eval_sentences=1000, max_length=40,
                             g2p=G2PConfig(valid_fraction=0.05, test_fraction=0.05))
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_tokens=2000, lr=3e-3, warmup_steps=200, epochs=50,
        max_time=minutes * 60, threads=1, log_every=100, eval_every=1000))


def multi30k_config(src: str, tgt: str, minutes: float) -> TranslateConfig:
    """Word pieces on both sides (separate 6k BPE vocabularies), lowercase, one-layer GRUs."""
    config = TranslateConfig(src=src, tgt=tgt, src_tokenizer="bpe", tgt_tokenizer="bpe",
                             vocab_size=6000, lowercase=True, embed_size=256, encoder_size=192,
                             hidden_size=384, cell="gru", attention_size=256, dropout=0.3,
                             label_smoothing=0.1, beam=5, eval_sentences=300)
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_tokens=3000, lr=2e-3, warmup_steps=200, epochs=30,
        max_time=minutes * 60, threads=1, log_every=100, eval_every=1500))


def load_average() -> list[float]:
    """``uptime``'s three load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def full_scores(out: Path, source: Source, split: str) -> dict:
    """Every sentence of ``split`` decoded with the run's beam (training scored a sample)."""
    run = load(out)
    config = dataclasses.replace(run.config, eval_sentences=0)
    data = task.prepare(config, source, run.assets)
    return evaluate(task, run.model, data.split(split), config, run.assets)


def trained(name: str, config: TranslateConfig, source: Source, split: str, keep: str) -> dict:
    """Train for the time budget, then score every sentence of ``split``."""
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"{name}-")) / "run"
    start_load = load_average()
    log(f"{name}: training for {config.train.max_time / 60:.0f} min into {out}, load {start_load}")
    summary = train(task, config, source, out, quiet=True)
    end_load = load_average()
    log(f"{name}: {summary['steps']} steps; scoring {split} in full")
    started = time.perf_counter()
    scores = full_scores(out, source, split)
    return {"benchmark": name, "split": split, "run": str(out), "steps": summary["steps"],
            "epochs": summary["epochs"], "train_s": summary["elapsed_s"],
            "steps_per_s": summary["steps"] / max(summary["elapsed_s"], 1e-9),
            "score_s": time.perf_counter() - started, "load_start": start_load,
            "load_end": end_load, **{f"{split}_{k}": v for k, v in scores.items()},
            "config": dataclasses.asdict(config), **machine_info()}


def speed(run_dir: str, sentences: int, split_source: Source | None) -> dict:
    """Sentences per second of batched greedy and beam-5 decoding of validation sources."""
    run = load(run_dir)
    source = split_source or Source("builtin")
    data = task.prepare(run.config, source, run.assets)
    texts = data.split("valid").context.data.sources[:sentences]
    result = {"benchmark": "decoding speed", "run": run_dir, "sentences": len(texts),
              "load_start": load_average()}
    for beam, batch, scored in ((1, 64, True), (1, 64, False), (1, 256, False), (5, 64, True)):
        translate(run, texts[:64], beam=beam, batch=batch)  # warm-up
        started = time.perf_counter()
        translate(run, texts, beam=beam, batch=batch, score=scored)
        seconds = time.perf_counter() - started
        name = f"beam{beam}_batch{batch}" + ("" if scored else "_unscored")
        result[f"{name}_sentences_per_s"] = len(texts) / seconds
        log(f"{name}: {len(texts) / seconds:.1f} sentences/s")
    result["load_end"] = load_average()
    return {**result, **machine_info()}


def main() -> None:
    """Parse the command and print one JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["g2p", "multi30k", "speed"])
    parser.add_argument("run", nargs="?", default="", help="speed: the run dir to decode with")
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--data", default="", help="speed: the run's data folder (default: built-in)")
    parser.add_argument("--keep", default="", help="write the run here instead of a temp folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config change (g2p.stress=false, train.lr=0.002); repeatable")
    args = parser.parse_args()

    def changed(config: TranslateConfig) -> TranslateConfig:
        return from_dict(TranslateConfig, settings_tree(args.set, config.train.max_time, 1),
                         base=config)

    torch.set_num_threads(1)
    if args.what == "g2p":
        result = trained("g2p", changed(g2p_config(args.minutes)), Source("builtin"), "test",
                         args.keep)
    elif args.what == "multi30k":
        source = Source("folder", path=DATA / "multi30k")
        result = trained(f"multi30k {args.src}-{args.tgt}",
                         changed(multi30k_config(args.src, args.tgt, args.minutes)), source,
                         "valid", args.keep)
    else:
        source = Source("folder", path=Path(args.data)) if args.data else None
        result = speed(args.run, args.sentences, source)
    emit(result)


if __name__ == "__main__":
    main()
