"""Reading audio: formats, bit depths, channels, rates, the duration limit, and bad files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from seqkit.errors import SeqkitError
from seqkit_speech.audio import check_not_silent, from_array, read_audio, to_mono


@pytest.mark.parametrize("name,subtype", [("a.wav", "PCM_U8"), ("b.wav", "PCM_16"),
                                          ("c.wav", "PCM_24"), ("d.wav", "FLOAT"),
                                          ("e.flac", None), ("f.ogg", None)])
def test_formats_and_depths_read_as_the_same_sound(tmp_path, save_audio, name, subtype):
    path = save_audio(tmp_path / name, seconds=0.3, rate=8000, subtype=subtype)
    wave = read_audio(path, 8000)
    expected = torch.from_numpy(sf.read(tmp_path / name, dtype="float32")[0])
    assert wave.dtype == torch.float32 and wave.shape == (2400,)
    assert torch.allclose(wave, expected, atol=1e-6)
    assert 0.25 < wave.abs().max() < 0.35  # scaled by the type's range, not left as integers


def test_channels_are_mixed_and_rates_resampled(tmp_path, save_audio):
    path = save_audio(tmp_path / "stereo.wav", seconds=0.5, rate=22050, channels=3)
    wave = read_audio(path, 8000)
    assert wave.shape == (4000,)  # 0.5 s at the model's 8 kHz
    # the channels hold 1/3, 2/3 and 3/3 of a 0.3 tone: their mean has a 0.2 peak
    assert abs(float(wave.abs().max()) - 0.2) < 0.01


def test_integer_arrays_scale_by_their_range():
    assert torch.allclose(to_mono(np.array([-32768, 0, 16384], np.int16)),
                          torch.tensor([-1.0, 0.0, 0.5]))
    assert torch.allclose(to_mono(np.array([0, 128, 192], np.uint8)), torch.tensor([-1.0, 0.0, 0.5]))
    assert from_array(np.zeros((7, 2), np.int16) + 16384, 8000, 8000).tolist() == [0.5] * 7


def test_too_long_is_an_error_or_cut_with_a_warning(tmp_path, save_audio):
    path = save_audio(tmp_path / "long.wav", seconds=2.0)
    with pytest.raises(SeqkitError, match=r"long.wav lasts 2.0 s, over the limit of 1.5 s"):
        read_audio(path, 8000, max_seconds=1.5)
    with pytest.warns(UserWarning, match="only its first 1.5 s"):
        wave = read_audio(path, 8000, max_seconds=1.5, too_long="cut")
    assert wave.shape == (12000,)


def test_bad_files_get_clear_errors(tmp_path):
    random_bytes = tmp_path / "noise.wav"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(3000))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    no_samples = tmp_path / "none.wav"
    sf.write(no_samples, np.zeros(0, np.float32), 8000)
    text = tmp_path / "notes.txt"
    text.write_text("hello, not audio\n")
    cases = [(random_bytes, "noise.wav is not an audio file"), (empty, "empty.wav is empty"),
             (no_samples, "none.wav holds no audio samples"), (text, "notes.txt is not an audio"),
             (tmp_path / "gone.wav", "gone.wav: no such audio file")]
    for path, message in cases:
        with pytest.raises(SeqkitError, match=message):
            read_audio(path, 8000)
    with pytest.raises(SeqkitError, match="the audio bytes is empty"):
        read_audio(b"", 8000)


def test_silence_is_refused():
    with pytest.raises(SeqkitError, match="quiet.wav is silent"):
        check_not_silent(torch.zeros(800), "quiet.wav")
    check_not_silent(torch.full((800,), 0.01), "speech.wav")  # quiet, but not silent
