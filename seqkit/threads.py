"""How many intra-op threads a training run uses on the CPU (``train.threads = 0``: chosen here).

PyTorch's default is one thread per physical core. For the recurrent models of seqkit that is
a poor choice on small machines: a step is hundreds of small operators (35 time steps of a
``(20, 200) x (200, 800)`` product per layer), each too short to split, so the threads mostly
wait for each other; and when any other process shares the cores (a DataLoader worker, a test
run, a second job), every operator waits for the slowest thread. Measured on 2-core machines
(``docs/benchmarks.md``): the word-LM step ran faster at one thread than at two, idle (7,172
against 5,980 tokens/s on an AMX Xeon; likewise for the plain PyTorch loop) and far more so
under load (3-6x on an AMD EPYC shared with a test run).

The rule (``auto_threads``):

- ``OMP_NUM_THREADS`` (or ``MKL_NUM_THREADS``) set: keep torch's count, which follows it; the
  user has chosen;
- otherwise half the usable cores, at least one: 1 thread on 2 cores (measured, as above);
  on more, the other half is left to DataLoader workers and other work. Beyond 2 cores this
  is a guess, not a measurement: seqkit's benchmarks have only run on 2-core machines.

"Usable" cores are the ones this process may run on (``os.sched_getaffinity``: a container's
or ``taskset``'s limit), not all the machine has.
"""
from __future__ import annotations

import os

import torch

USER_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows: no affinity masks
        return max(1, os.cpu_count() or 1)


def auto_threads(cores: int | None = None, environ: dict | None = None) -> int:
    """The thread count for ``train.threads = 0`` on a machine with ``cores`` usable cores
    (default: this one); see the module docstring for the rule and where it was measured."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name, "").strip() for name in USER_SETTINGS):
        return torch.get_num_threads()
    cores = usable_cores() if cores is None else cores
    return max(1, cores // 2)


def choose_threads(requested: int) -> int:
    """``requested`` if positive, else ``auto_threads()``."""
    return requested if requested > 0 else auto_threads()


def set_threads(requested: int) -> int:
    """Set torch's intra-op thread count from a ``train.threads`` value; returns the count."""
    count = choose_threads(requested)
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return count
