"""torchrun runs the same training command under DistributedDataParallel (gloo on CPU)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.skipif(not TORCHRUN.exists() and not shutil.which("torchrun"),
                    reason="torchrun is not installed beside this Python")
def test_two_processes_train_one_run(tmp_path):
    out = tmp_path / "lm"
    command = [str(TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun")),
               "--nproc_per_node", "2", "-m", "seqkit.cli", "train", "--task", "lm",
               "--out", str(out), "--hidden-size", "32", "--embed-size", "32", "--num-layers",
               "1", "--train.epochs", "3", "--train.no-bf16", "--train.log-every", "1000"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    # only rank 0 logs: one validation per epoch, not one per rank
    assert [r["epoch"] for r in records if r["split"] == "valid"] == [1, 2, 3]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["valid_ppl"] < 0.6 * metrics["valid_unigram_ppl"]  # it learned
    assert not list(tmp_path.glob("lm/.*tmp*"))  # no half-written files left behind
