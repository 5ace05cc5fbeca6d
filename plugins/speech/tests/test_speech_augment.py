"""Training-time augmentation of the speech task: noise at a drawn signal-to-noise ratio."""
from __future__ import annotations

import random

import pytest
import torch

from seqkit.config import validate
from seqkit.errors import SeqkitError
from seqkit.tokenizers import TextTokenizer
from seqkit_speech.data import Collate, SpeechAssets, make_batches, with_noise
from seqkit_speech.sources import Clip


def tone(seconds: float = 0.5, rate: int = 8000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * torch.pi * 440 * t)


@pytest.mark.parametrize("snr", [0.0, 20.0, 35.0])
def test_noise_is_added_at_the_drawn_ratio(snr):
    clean = tone()
    noisy = with_noise(clean, (snr, snr), random.Random(3))
    measured = 10 * torch.log10(clean.pow(2).mean() / (noisy - clean).pow(2).mean())
    assert abs(float(measured) - snr) < 0.3


def test_noise_is_drawn_from_the_range_and_repeats_with_the_seed():
    clean = tone()
    ratios = []
    for seed in range(40):
        noisy = with_noise(clean, (10.0, 30.0), random.Random(seed))
        ratios.append(float(10 * torch.log10(clean.pow(2).mean() / (noisy - clean).pow(2).mean())))
        assert torch.equal(noisy, with_noise(clean, (10.0, 30.0), random.Random(seed)))
    assert 9.7 < min(ratios) < 15 and 25 < max(ratios) < 30.3  # spread over the range


def test_silence_and_empty_clips_are_left_alone():
    for wave in (torch.zeros(800), torch.zeros(0)):
        assert torch.equal(with_noise(wave, (0.0, 10.0), random.Random(0)), wave)


def test_collate_adds_noise_in_training_only(tiny_config):
    config = tiny_config(speed=(), noise_snr=(10.0, 10.0))
    clip = tone().numpy()
    examples = [(0, Clip(clip, "one", "a tone", 0.5, 8000), [1])]
    trained = Collate(config, train=True)(examples, random.Random(0))["audio"][0]
    evaluated = Collate(config, train=False)(examples)["audio"][0]
    assert torch.allclose(evaluated, torch.from_numpy(clip))
    added = (trained - evaluated).pow(2).mean()
    assert torch.isclose(added, torch.from_numpy(clip).pow(2).mean() / 10, rtol=0.1)
    quiet = Collate(tiny_config(speed=(), noise_snr=()), train=True)(examples,
                                                                     random.Random(0))["audio"][0]
    assert torch.equal(quiet, evaluated)  # an empty range: no noise


def test_each_epoch_perturbs_a_clip_afresh_and_a_resumed_run_the_same(tiny_config):
    """Five clips fit one length pool, so every epoch cuts them into the same batches: the
    perturbation must still change from epoch to epoch (a model that meets each clip with the
    same noise every time can learn the clips by heart), and repeat for the same epoch."""
    config = tiny_config(speed=(0.9, 1.0, 1.1), noise_snr=(10.0, 40.0))
    clips = [Clip(tone(0.4 + 0.05 * i).numpy(), "one", f"c{i}", 0.4 + 0.05 * i, 8000)
             for i in range(5)]
    tokenizer = TextTokenizer.train(["one"], "word")
    batches = make_batches("train", clips, config, SpeechAssets(tokenizer))

    def heard(epoch: int) -> dict[int, torch.Tensor]:
        return {int(i): audio[:length] for batch in batches.epoch(epoch)
                for i, audio, length in zip(batch["index"], batch["audio"],
                                            batch["audio_lengths"])}

    first, second, again = heard(0), heard(1), heard(1)
    assert sorted(map(sorted, batches.plan(0))) == sorted(map(sorted, batches.plan(1)))
    for i in range(5):
        assert torch.equal(second[i], again[i])  # the same epoch: the same draws
        assert first[i].shape != second[i].shape or not torch.equal(first[i], second[i])


@pytest.mark.parametrize("bad", [(10.0,), (30.0, 10.0), (0.0, 10.0, 20.0)])
def test_a_noise_range_that_is_not_low_high_is_refused(tiny_config, bad):
    with pytest.raises(SeqkitError, match="noise_snr"):
        validate(tiny_config(noise_snr=bad))
