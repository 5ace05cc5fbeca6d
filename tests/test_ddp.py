"""torchrun runs the same training command under DistributedDataParallel (gloo on CPU)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TORCHRUN = Path(sys.executable).with_name("torchrun")
# `seqkit train` with rank 1 starting late, so that a rank which looks at --out after rank 0 has
# begun writing there would take the new run for an old one (the race a CI run once lost)
LATE_RANK_1 = ("import os, sys, time\n"
               "if os.environ['RANK'] == '1': time.sleep(3)\n"
               "from seqkit.cli import main\n"
               "sys.exit(main(sys.argv[1:]))")


@pytest.mark.skipif(not TORCHRUN.exists() and not shutil.which("torchrun"),
                    reason="torchrun is not installed beside this Python")
def test_two_processes_train_one_run(tmp_path):
    out = tmp_path / "lm"
    command = [str(TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun")),
               "--nproc_per_node", "2", "--no-python", sys.executable, "-c", LATE_RANK_1,
               "train", "--task", "lm", "--out", str(out), "--hidden-size", "32",
               "--embed-size", "32", "--num-layers", "1", "--train.epochs", "3",
               "--train.no-bf16", "--train.log-every", "1000"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    # only rank 0 logs: one validation per epoch, not one per rank
    assert [r["epoch"] for r in records if r["split"] == "valid"] == [1, 2, 3]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["valid_ppl"] < 0.6 * metrics["valid_unigram_ppl"]  # it learned
    assert not list(tmp_path.glob("lm/.*tmp*"))  # no half-written files left behind


def test_fit_trains_each_rank_on_its_own_share_of_every_batch(monkeypatch):
    """What a rank's loop reads: its own examples, collated on that rank (no slicing of a
    batch that every rank decoded whole)."""
    import torch

    from seqkit import dist
    from seqkit.batching import BucketBatches, StreamBatches
    from seqkit.train import _epoch

    collated = []

    def collate(examples):
        collated.extend(examples)
        return torch.tensor(examples)

    buckets = BucketBatches(list(range(7)), 3, lambda e: e % 3, collate, seed=5)
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    monkeypatch.setattr(dist, "rank", lambda: 1)
    mine = [b.tolist() for b in _epoch(buckets, 0, 0)]
    assert sorted(collated) == sorted(i for b in mine for i in b)  # nothing else decoded
    theirs = [b.tolist() for b in buckets.epoch(0, rank=0, world=2)]
    assert len(mine) == len(theirs) and all(mine) and all(theirs)
    assert sorted(i for b in mine + theirs for i in b) == list(range(7))
    stream = StreamBatches(torch.arange(41), 4, 5)
    rows = next(iter(_epoch(stream, 0, 0)))[0]
    assert torch.equal(rows, stream.inputs[1::2, :5])
