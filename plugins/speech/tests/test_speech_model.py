"""The front-end and model at tiny sizes: shapes, padding, causality, SpecAugment, and
streaming that gives exactly the offline logits and transcript."""
from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf
import torch

from seqkit.errors import SeqkitError
from seqkit_speech.data import learn_assets
from seqkit_speech.frontend import Normalize, SpeechFrontend
from seqkit_speech.model import SpeechModel
from seqkit_speech.recognize import decode
from seqkit_speech.sources import file_clip

B, N, C = 3, 3001, 11  # batch, samples (0.375 s at 8 kHz), classes


def streaming_config(tiny_config, **fields):
    return tiny_config(**{"bidirectional": False, "normalize": "global", **fields})


def test_auto_normalisation_is_per_utterance_offline_and_global_for_streaming(tiny_config):
    offline, streaming = tiny_config(normalize="auto"), tiny_config(normalize="auto",
                                                                     bidirectional=False)
    assert offline.normalization() == "mean" and streaming.normalization() == "global"
    assert not SpeechModel(offline, C).can_stream and SpeechModel(streaming, C).can_stream
    assert SpeechModel(offline, C).encoder.frontend.normalize.mode == "mean"
    for mode in ("mean", "utterance"):  # they read the whole utterance: no streaming
        assert not SpeechModel(tiny_config(normalize=mode, bidirectional=False), C).can_stream


def test_mean_normalisation_removes_a_channels_colour_and_keeps_the_spread():
    torch.manual_seed(0)
    bands, frames = 6, 20
    std = torch.rand(bands) + 0.5
    norm = Normalize("mean", bands, (torch.randn(bands).tolist(), std.tolist()))
    feats = torch.randn(2, frames, bands) * 3
    mask = torch.ones(2, frames, dtype=torch.bool)
    mask[1, 12:] = False  # a shorter second utterance: its padding must not count
    colour = torch.randn(2, 1, bands)  # another microphone: a constant per band
    plain, coloured = norm(feats, mask), norm(feats + colour, mask)
    assert torch.allclose(plain[0], coloured[0], atol=1e-5)
    assert torch.allclose(plain[1, :12], coloured[1, :12], atol=1e-5)
    assert torch.allclose(plain[1, :12].mean(0), torch.zeros(bands), atol=1e-5)
    # divided by the training data's spread, not the utterance's own
    torch.testing.assert_close(plain[0], (feats[0] - feats[0].mean(0)) / std)
    glob = Normalize("global", bands, (torch.zeros(bands).tolist(), std.tolist()))
    assert not torch.allclose(glob(feats, mask), glob(feats + colour, mask), atol=1e-3)


def test_a_floor_below_the_peak_makes_pauses_alike_whatever_their_noise():
    torch.manual_seed(0)
    bands, floor_db = 4, 30.0
    depth = floor_db * np.log(10) / 10  # the floor in the features' natural-log units
    speech = torch.randn(1, 8, bands)  # within a few units of its peak
    peak = speech.max()

    def clip(pause_level: float) -> torch.Tensor:  # speech between two pauses at one level
        pause = torch.full((1, 5, bands), float(peak) - pause_level)
        return torch.cat([pause, speech, pause], 1)

    mask = torch.ones(1, 18, dtype=torch.bool)
    norm = Normalize("mean", bands, (torch.zeros(bands).tolist(), [1.0] * bands), floor_db)
    quiet, noisy = norm(clip(3 * depth), mask), norm(clip(1.5 * depth), mask)
    torch.testing.assert_close(quiet, noisy)  # both pauses lie below the floor
    floored = torch.cat([torch.full((5, bands), float(peak - depth)), speech[0],
                         torch.full((5, bands), float(peak - depth))])
    torch.testing.assert_close(quiet[0], floored - floored.mean(0))  # speech left as it was
    plain = Normalize("mean", bands, (torch.zeros(bands).tolist(), [1.0] * bands))
    assert not torch.allclose(plain(clip(3 * depth), mask), plain(clip(1.5 * depth), mask))
    # padding does not set the peak
    padded, long_mask = torch.cat([clip(3 * depth), torch.full((1, 4, bands), 99.0)], 1), \
        torch.cat([mask, torch.zeros(1, 4, dtype=torch.bool)], 1)
    torch.testing.assert_close(norm(padded, long_mask)[0, :18], quiet[0])


def test_a_floor_needs_a_per_utterance_normalisation(tiny_config):
    from seqkit.config import validate

    config = validate(tiny_config(floor_db=30.0, normalize="mean"))
    floor = SpeechModel(config, C).encoder.frontend.normalize.floor
    assert floor == pytest.approx(30.0 * np.log(10) / 10)  # the model applies it
    with pytest.raises(SeqkitError, match="floor_db"):
        validate(tiny_config(floor_db=30.0, normalize="global"))


@pytest.mark.parametrize("subsample,layers", [(1, 1), (2, 2), (4, 2), (4, 3)])
def test_shapes_and_lengths(tiny_config, subsample, layers):
    config = tiny_config(subsample=subsample, conv_layers=layers)
    model = SpeechModel(config, C).eval()
    lengths = torch.tensor([N, 2000, 1203])
    logits, mask = model(torch.randn(B, N), lengths)
    frames = (lengths - 200) // 80 + 1  # 25 ms windows, 10 ms hops at 8 kHz
    assert logits.shape == (B, int(frames[0]) // subsample, C)
    assert mask.sum(1).tolist() == (frames // subsample).tolist()


@pytest.mark.parametrize("normalize", ["mean", "utterance"])  # masked statistics
def test_padding_does_not_change_a_row(tiny_config, normalize):
    torch.manual_seed(0)
    model = SpeechModel(tiny_config(normalize=normalize), C).eval()
    short = torch.randn(1, 1800)
    alone, _ = model(short)
    padded = torch.cat([short, torch.zeros(1, N - 1800)], 1)
    batch = torch.cat([padded, torch.randn(2, N)])
    together, mask = model(batch, torch.tensor([1800, N, N]))
    steps = int(mask[0].sum())
    assert torch.allclose(alone[0], together[0, :steps], atol=1e-5)


def test_the_conv_stage_reads_no_future_input(tiny_config):
    torch.manual_seed(0)
    frontend = SpeechFrontend(streaming_config(tiny_config, subsample=4, conv_layers=3)).eval()
    wave = torch.randn(1, N)
    changed = wave.clone()
    changed[:, 2000:] = torch.randn(1, N - 2000)  # sample 2000 falls in mel frame 23
    first, _ = frontend(wave)
    second, _ = frontend(changed)
    same = (first - second).abs().amax(-1)[0] < 1e-6
    # output frame t reads mel frames up to 4t + 3 (the last layer has stride 1): frames 0..4
    # never see frame 23
    assert same[:5].all() and not same.all()


def test_specaugment_masks_in_training_only(tiny_config):
    frontend = SpeechFrontend(tiny_config(freq_mask_width=5, time_mask_width=4))
    wave = torch.randn(B, N)
    torch.manual_seed(1)
    masked, _ = frontend.train()(wave)
    plain, _ = frontend.eval()(wave)
    again, _ = frontend(wave)
    assert torch.equal(plain, again)
    assert not torch.allclose(masked, plain)


def test_the_shortcut_adds_frame_local_evidence_offline_and_streaming(tiny_config):
    torch.manual_seed(0)
    config = streaming_config(tiny_config)
    model = SpeechModel(config, C).eval()
    plain = SpeechModel(streaming_config(tiny_config, shortcut=False), C)
    assert "shortcut.weight" not in plain.state_dict()
    wave = torch.randn(B, 2003)
    with torch.no_grad():
        offline, _ = model(wave)
        streamed, _ = model.stream(wave)
        features, _ = model.encoder.frontend(wave)
        outputs, _ = model.encoder.rnn(features)
        head = model.head.classify
        without = head(outputs)
        with_local = head(outputs + model.shortcut(features))
    for logits in (offline, streamed):
        torch.testing.assert_close(logits, with_local[:, :logits.shape[1]])
        assert not torch.allclose(logits, without[:, :logits.shape[1]], atol=1e-3)


@pytest.mark.parametrize("subsample", [1, 2, 4])
def test_streaming_equals_offline(tiny_config, subsample):
    torch.manual_seed(0)
    config = streaming_config(tiny_config, subsample=subsample, conv_layers=2, num_layers=2)
    model = SpeechModel(config, C, ([0.5] * 13, [2.0] * 13)).eval()
    wave = torch.randn(B, 5003)
    with torch.no_grad():
        offline, mask = model(wave)
        rng, state, parts, start = random.Random(subsample), None, [], 0
        while start < wave.shape[1]:
            size = rng.choice([1, 37, 80, 160, 333, 1000])
            logits, state = model.stream(wave[:, start: start + size], state)
            parts.append(logits)
            start += size
    online = torch.cat(parts, 1)
    assert online.shape == offline.shape and state.frames == offline.shape[1]
    assert (online - offline).abs().max() < 1e-5
    lengths = mask.sum(1)
    assert decode(online, lengths) == decode(offline, lengths)


def test_models_that_read_the_whole_utterance_refuse_to_stream(tiny_config):
    for config in (tiny_config(), streaming_config(tiny_config, bidirectional=True),
                   tiny_config(bidirectional=False, normalize="utterance"),
                   tiny_config(bidirectional=False, normalize="mean")):
        with pytest.raises(SeqkitError, match="cannot stream"):
            SpeechModel(config, C).stream(torch.randn(1, 800))


@pytest.mark.parametrize("normalize,saved", [("mean", True), ("global", True),
                                             ("utterance", False), ("none", False)])
def test_the_training_sets_statistics_are_learnt_where_the_normalisation_uses_them(
        tmp_path, tiny_config, normalize, saved):
    rng = np.random.default_rng(0)
    clips = []
    for i in range(3):  # loud noise: far from the identity statistics (mean 0, std 1)
        path = tmp_path / f"{i}.wav"
        sf.write(path, (rng.standard_normal(4000) * 0.3).astype(np.float32), 8000)
        clips.append(file_clip(path, "one"))
    config = tiny_config(normalize=normalize)
    assets = learn_assets(clips, config)
    assert (assets.stats is not None) == saved
    if saved:
        norm = SpeechModel(config, C, assets.stats).encoder.frontend.normalize
        torch.testing.assert_close(norm.std, torch.tensor(assets.stats[1]))
        assert not torch.allclose(norm.std, torch.ones_like(norm.std), atol=0.1)
