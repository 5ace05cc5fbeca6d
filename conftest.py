"""Settings for every test of the repository (core and plugins).

The tests train tiny models: one torch thread is as fast as two for them, and on a CPU that
another job shares (CI beside a build, a benchmark on the other core), two threads wait on each
other at every small operation and run several times slower (an LM fixture: 193 s against 4 s).
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread for each test; the count is restored afterwards, also where a
    run's ``train.threads`` changed it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config):
    """One thread for session fixtures too, which run before any per-test fixture."""
    torch.set_num_threads(1)
