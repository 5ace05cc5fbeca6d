"""Speech benchmarks on real data (one thread): FSDD official split, FSDD with each speaker held
out, connected digits built from FSDD, yesno, a built-in (eSpeak-only) model scored on FSDD, and
the real-time factor and streaming latency per chunk.

    python benchmarks/speech.py fsdd [--minutes 10]
    python benchmarks/speech.py speakers [--minutes 5]
    python benchmarks/speech.py connected [--minutes 10]
    python benchmarks/speech.py yesno [--minutes 3]
    python benchmarks/speech.py espeak [--minutes 10]
    python benchmarks/speech.py latency RUN_DIR [--chunk-ms 80]

Targets (issue 8): FSDD accuracy >= 98% in <= 10 min of training; each held-out speaker >= 90%;
connected digits WER <= 5%; yesno WER <= 2%; RTF <= 0.01 offline. Each run prints progress on
stderr and one JSON object on the last line of stdout. Tune on validation splits only.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, emit, log, machine_info  # noqa: E402

from seqkit.data import Source  # noqa: E402
from seqkit.jobs import evaluate_run, train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_speech import SpeechConfig, task  # noqa: E402
from seqkit_speech.inference import stream_file  # noqa: E402
from seqkit_speech.synth import DIGITS  # noqa: E402

FSDD, YESNO = DATA / "fsdd", DATA / "yesno"
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "yweweler")


def config(minutes: float, **fields) -> SpeechConfig:
    """The default config with word units (these are closed-vocabulary tasks), one thread,
    cut at ``minutes`` of training."""
    base = SpeechConfig(**{"tokens": "word", **fields})
    return dataclasses.replace(base, train=dataclasses.replace(
        base.train, threads=1, max_time=minutes * 60, epochs=200))


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(name: str, cfg: SpeechConfig, source: Source, out: Path) -> dict:
    """Train into ``out``; the final metrics with the load average at the end."""
    log(f"{name}: training {cfg.train.max_time:.0f} s into {out} (load {load_average()})")
    metrics = train(task, cfg, source, out, quiet=True)
    keep = ("elapsed_s", "steps", "epochs", "test_accuracy", "test_wer", "test_cer", "test_rtf",
            "valid_accuracy", "valid_wer", "test_utterances")
    return {k: metrics[k] for k in keep if k in metrics} | {"load_after": load_average()}


def connected_folder(folder: Path, seed: int = 0, per_split: dict | None = None) -> Path:
    """FSDD recordings joined into 3-7 digit strings with random pauses (0.05-0.4 s); the
    speakers george and lucas are held out for test, one take range for validation."""
    rng = random.Random(seed)
    files = sorted((FSDD / "recordings").glob("*.wav"))
    by_speaker: dict[str, list[Path]] = {}
    for path in files:
        by_speaker.setdefault(path.name.split("_")[1], []).append(path)
    plan = per_split or {"train": (("jackson", "nicolas", "yweweler"), 1500),
                         "valid": (("jackson", "nicolas", "yweweler"), 100),
                         "test": (("george", "lucas"), 300)}
    for split, (speakers, count) in plan.items():
        rows = ["path,text"]
        for i in range(count):
            speaker = rng.choice(speakers)
            chosen = [rng.choice(by_speaker[speaker]) for _ in range(rng.randint(3, 7))]
            pieces = []
            for path in chosen:
                wave, rate = sf.read(path, dtype="float32")
                pieces += [wave, np.zeros(int(rate * rng.uniform(0.05, 0.4)), np.float32)]
            name = f"{split}/{i}.wav"
            (folder / split).mkdir(parents=True, exist_ok=True)
            sf.write(folder / name, np.concatenate(pieces), 8000, subtype="PCM_16")
            rows.append(f"{name},{' '.join(DIGITS[int(p.name[0])] for p in chosen)}")
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", choices=["fsdd", "speakers", "connected", "yesno", "espeak",
                                          "latency"])
    parser.add_argument("run_dir", nargs="?", help="for latency: a trained left-to-right run")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk-ms", type=float, default=80.0)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out or tempfile.mkdtemp(prefix="speech-bench-"))
    result: dict = {"bench": args.bench, "machine": machine_info(), "load_before": load_average()}
    if args.bench == "fsdd":
        result["fsdd"] = run("fsdd", config(args.minutes), Source("folder", path=FSDD),
                             out / "fsdd")
    elif args.bench == "speakers":
        result["speakers"] = {s: run(s, config(args.minutes, holdout_speakers=(s,)),
                                     Source("folder", path=FSDD), out / s) for s in SPEAKERS}
    elif args.bench == "connected":
        folder = connected_folder(out / "connected-data")
        result["connected"] = run("connected", config(args.minutes),
                                  Source("folder", path=folder), out / "connected")
    elif args.bench == "yesno":
        result["yesno"] = run("yesno", config(args.minutes),
                              Source("folder", path=YESNO), out / "yesno")
    elif args.bench == "espeak":
        result["espeak"] = run("espeak", config(args.minutes), Source("builtin"), out / "espeak")
        whole = evaluate_run(out / "espeak", Source("folder", path=FSDD, whole=True), "whole")
        result["espeak_on_fsdd"] = {k: whole[k] for k in ("accuracy", "wer", "cer", "utterances")}
    else:
        if not args.run_dir:
            parser.error("latency needs the RUN_DIR of a left-to-right run")
        trained = load(args.run_dir)
        files = sorted((FSDD / "recordings").glob("*_*_[0-4].wav"))[:50]
        latencies = [ms for path in files for ms in stream_file(trained, str(path),
                                                                args.chunk_ms)[1]]
        result["latency"] = {"chunk_ms": args.chunk_ms, "chunks": len(latencies),
                             "mean_ms": 1000 * float(np.mean(latencies)),
                             "p95_ms": 1000 * float(np.percentile(latencies, 95))}
    result["load_after"] = load_average()
    emit(result)


if __name__ == "__main__":
    main()
