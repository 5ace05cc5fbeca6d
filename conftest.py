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


@pytest.fixture
def no_prompt(monkeypatch):
    """Record any attempt to ask the user (transformers' "run the custom code? [y/N]")."""
    asked = []

    def refuse(prompt=""):
        asked.append(prompt)
        raise EOFError("no one is there to answer")

    monkeypatch.setattr("builtins.input", refuse)
    return asked


@pytest.fixture(scope="session")
def tiny_hf_resnet(tmp_path_factory):
    """A tiny random 2-stage Hugging Face ResNet (12 channels out) saved to a folder, with an
    image processor of odd statistics (to see them used): a backbone that needs no hub."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("hf") / "tiny-resnet"
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 12],
                                       depths=[1, 1], layer_type="basic")
    torch.manual_seed(0)
    transformers.ResNetModel(config).save_pretrained(folder)
    transformers.ConvNextImageProcessor(image_mean=[0.5, 0.4, 0.3],
                                        image_std=[0.2, 0.25, 0.3]).save_pretrained(folder)
    return folder
