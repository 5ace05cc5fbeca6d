"""Settings for every test of the repository (core and plugins).

The tests train tiny models: one torch thread is as fast as two for them, and on a CPU that
another job shares (CI beside a build, a benchmark on the other core), two threads wait on each
other at every small operation and run several times slower.
"""
import torch


def pytest_configure(config):
    """One intra-op thread for the whole session (a run's ``train.threads`` may still set more)."""
    torch.set_num_threads(1)
