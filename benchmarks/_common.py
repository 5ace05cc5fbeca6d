"""Helpers shared by the benchmark scripts: machine facts, matmul peak, logging, JSON output.

Every benchmark prints its progress to stderr and exactly one JSON object, on the last line of
stdout, so that ``python benchmarks/x.py | tail -1`` is the result.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"  # ../shared/data beside the project root


def log(*parts) -> None:
    """A progress line on stderr, with the wall-clock time."""
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-instruction flags that matter for matmul speed (AVX-512, bf16, AMX)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx512f", "avx512_bf16",
                                                                "amx", "avx2", "fma")))
    except OSError:
        pass
    return []


def machine_info() -> dict:
    """What the numbers were measured on, for the JSON result."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_flags": cpu_flags(), "torch": torch.__version__,
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def matmul_peak(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    """Best FLOP/s of ``size x size`` by ``size x size`` matmuls in ``dtype`` on the CPU.

    One product costs ``2 * size**3`` FLOPs (a multiply and an add per term). The best of
    ``reps`` timed runs, after a warm-up, approximates the peak the BLAS library reaches.
    """
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.matmul(a, b)  # warm-up: lets the library pick its kernels
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def emit(result: dict) -> None:
    """Print the result as the last line of stdout."""
    print(json.dumps(result), flush=True)


def settings_tree(settings: list[str], max_time: float, threads: int) -> dict:
    """``--set`` values ``["train.lr=0.001", "dropout=0.5"]`` as a nested dict of config
    changes (JSON where a value parses: numbers, true/false; else the text), with the run's
    time and thread limits under ``train``."""
    changes: dict = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE, got '{setting}'")
        *parents, last = key.split(".")
        node = changes
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[last] = json.loads(value)
        except json.JSONDecodeError:
            node[last] = value
    changes.setdefault("train", {}).update(max_time=max_time, threads=threads)
    return changes
