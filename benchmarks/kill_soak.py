"""The SIGKILL soak test (issue 11): ``--trials`` runs of ``seqkit train`` killed with SIGKILL
at random moments (a random time, or inside a checkpoint write: half a ``state.pt``, a weights
file not yet renamed, between the two renames of the checkpoint swap), each then continued
with ``--resume`` (or, refused before the run had a config.json, trained afresh) and compared
bit for bit with one uninterrupted run.

    .venv/bin/python benchmarks/kill_soak.py --trials 10

Prints one JSON line: every trial's kill point, how it finished and whether its best and last
weights are identical to the uninterrupted run's; the load average at start and end.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

from _common import emit, log, machine_info

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="chooses the kill points and times")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("kill_resume",
                                                  ROOT / "tests" / "test_kill_resume.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    load_start, started = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"
        assert soak.main(["train", *soak.TRAIN, "--out", str(reference)]) == 0
        log("reference run done")
        trials = soak.soak(args.trials, reference, Path(tmp), seed=args.seed)
    for trial in trials:
        log(trial)
    emit({"benchmark": "kill_soak", "trials": trials,
          "identical": sum(t["identical"] for t in trials), "of": len(trials),
          "killed": sum(t["killed"] for t in trials), "wall_s": round(time.perf_counter() -
                                                                       started, 1),
          "load_start": load_start, "load_end": os.getloadavg(), "machine": machine_info()})


if __name__ == "__main__":
    main()
