"""The compiled libraries of the environment load together and compute.

torchaudio 2.11.1 installed beside torch 2.11.0 failed to load its C++ library, and
transformers, which imports torchaudio when it is present, failed with it: every fresh clone
broke. This runs one operation of each compiled library in one process.
"""
import importlib.metadata

import torch


def test_torch_trio_and_transformers_load_together():
    import torchaudio
    import torchvision
    import transformers

    wave = torch.sin(torch.arange(800, dtype=torch.float32) / 3).unsqueeze(0)  # (1, 800)
    resampled = torchaudio.functional.resample(wave, 8000, 16000)
    assert resampled.shape == (1, 1600)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50, 60, 60]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # the second box overlaps the first and is dropped
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1])
    model = transformers.ResNetModel(config).eval()
    with torch.no_grad():
        out = model(pixel_values=torch.zeros(1, 3, 32, 32)).last_hidden_state
    assert out.shape[:2] == (1, 8)


def test_installed_versions_match_the_lock():
    """What is installed is what constraints.txt pins, for the libraries that must agree."""
    from pathlib import Path

    lock = Path(__file__).resolve().parents[1] / "constraints.txt"
    pins = dict(line.split("==", 1) for line in lock.read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for name in ("torch", "torchvision", "torchaudio", "transformers"):
        installed = importlib.metadata.version(name).split("+")[0]
        assert installed == pins[name], f"{name} {installed} installed, {pins[name]} locked"
