"""The speech demo, served for real: through its API (gradio_client) and in a browser.

A tiny left-to-right recogniser is trained once for this module (a few seconds) on a few
built-in eSpeak digits; the tests serve its demo on a free local port and upload WAV files.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network calls

gradio_client = pytest.importorskip("gradio_client")
gr = pytest.importorskip("gradio")
torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")
seqkit_speech = pytest.importorskip("seqkit_speech")

from PIL import Image  # noqa: E402

import seqkit.demo  # noqa: E402
from seqkit.data import Source  # noqa: E402
from seqkit.jobs import train  # noqa: E402
from seqkit.rundir import load  # noqa: E402
from seqkit_speech import SpeechConfig, SynthConfig, synth_split  # noqa: E402
from seqkit_speech.demo import API_NAME, build_demo, listen, stop_listening  # noqa: E402
from seqkit_speech.recognize import BLANK  # noqa: E402
from seqkit_speech.synth import SYNTH_RATE  # noqa: E402


def tiny_config() -> SpeechConfig:
    """A small streaming recogniser of single built-in digits (its accuracy does not matter
    here, only that it answers with words of its vocabulary)."""
    synth = SynthConfig(train_utterances=60, valid_utterances=7, test_utterances=5,
                        max_digits=1, word_fraction=0.0)
    config = SpeechConfig(n_mels=16, conv_channels=4, frontend_size=16, hidden_size=24,
                          num_layers=1, dropout=0.0, tokens="word", subsample=4,
                          bidirectional=False, normalize="global", synth=synth)
    return dataclasses.replace(config, train=dataclasses.replace(
        config.train, batch_size=16, epochs=2, warmup_steps=0, threads=1))


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "speech"
    train(seqkit_speech.task, tiny_config(), Source("builtin"), out, quiet=True)
    return out


@pytest.fixture(scope="module")
def served(speech_run, launch_demo):
    """The demo of the tiny run, its CTC blank suppressed: a model trained this briefly emits
    only blanks (an empty transcript); what it says does not matter here, only that the API
    and the page show it."""
    run = load(speech_run)
    with torch.no_grad():
        run.model.head.classify.bias[BLANK] = -1e4
    return launch_demo(build_demo(run))


@pytest.fixture(scope="module")
def wav_file(speech_run, tmp_path_factory) -> Path:
    """A held-out built-in utterance as a 16-bit WAV file at 22,050 Hz."""
    utterance = synth_split(load(speech_run).config.synth, "test", 1)[0]
    path = tmp_path_factory.mktemp("audio") / "digit.wav"
    sf.write(path, utterance.samples, SYNTH_RATE, subtype="PCM_16")
    return path


def vocabulary(run) -> set[str]:
    tokenizer = run.assets.tokenizer
    return {tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)}


def bad_files(folder: Path) -> list[tuple[Path, str]]:
    """``(file, message pattern)`` for each kind of bad upload the demo must explain."""
    noise = folder / "noise.wav"
    noise.write_bytes(np.random.default_rng(0).bytes(2000))
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    none = folder / "none.wav"
    sf.write(none, np.zeros(0, np.float32), 8000)
    quiet = folder / "quiet.wav"
    sf.write(quiet, np.zeros(8000, np.float32), 8000)
    long = folder / "long.flac"
    sf.write(long, np.full(8000 * 31, 0.1, np.float32), 8000)
    text = folder / "notes.txt"
    text.write_text("not audio")
    return [(noise, "noise.wav is not an audio file"), (empty, "empty.wav is empty"),
            (none, "none.wav holds no audio samples"), (quiet, "quiet.wav is silent"),
            (long, "long.flac lasts 31.0 s, over the limit"),
            (text, "notes.txt is not an audio file")]


def test_task_points_at_the_demo(speech_run):
    assert isinstance(seqkit.demo.build(str(speech_run)), gr.Blocks)


def test_api_transcribes_an_upload(served, speech_run, wav_file):
    client = gradio_client.Client(served, verbose=False)
    text, image, aligned = client.predict(gradio_client.handle_file(str(wav_file)),
                                          api_name=f"/{API_NAME}")
    words = text.split()
    assert words and set(words) <= vocabulary(load(speech_run))
    assert len(aligned.splitlines()) == len(words)  # one emission per word
    with Image.open(image) as picture:
        assert picture.size == (800, 300)


def test_api_explains_bad_input_and_keeps_serving(served, wav_file, tmp_path):
    client = gradio_client.Client(served, verbose=False)
    good = gradio_client.handle_file(str(wav_file))
    text, _, _ = client.predict(good, api_name=f"/{API_NAME}")
    for path, message in bad_files(tmp_path):
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(gradio_client.handle_file(str(path)), api_name=f"/{API_NAME}")
    with pytest.raises(gradio_client.exceptions.AppError, match="upload an audio file"):
        client.predict(None, api_name=f"/{API_NAME}")
    again, _, _ = client.predict(good, api_name=f"/{API_NAME}")
    assert again == text  # still serving, and recognition is deterministic


def test_microphone_stream_gives_partials_then_the_offline_text(speech_run, wav_file):
    run = load(speech_run)
    samples, rate = sf.read(wav_file, dtype="int16")
    chunks = [samples[i: i + rate // 2] for i in range(0, len(samples), rate // 2)]
    session, partials = None, []
    for chunk in chunks:  # the browser sends half-second chunks
        partial, session = listen(run, (rate, chunk), session)
        partials.append(partial)
    final, fresh = stop_listening(run, partials[-1], session)
    assert fresh["recognizer"] is None  # the next recording starts afresh
    same = seqkit_speech.Recognizer(run)
    assert partials == [same.feed(chunk, rate) for chunk in chunks]
    assert final == same.finish() and set(final.split()) <= vocabulary(run)


@pytest.mark.browser
def test_browser_uploads_a_wav_and_reads_the_transcript(served, wav_file, browser_page):
    from playwright.sync_api import expect

    page = browser_page(served)
    expect(page).to_have_title("seqkit speech demo", timeout=20_000)
    page.locator("#upload input[type=file]").set_input_files(str(wav_file))
    page.locator("#transcribe-button").click()
    transcript = page.locator("#transcript textarea")
    expect(transcript).not_to_have_value("", timeout=30_000)
    expect(page.locator("#spectrogram img")).to_be_visible(timeout=20_000)
    assert transcript.input_value().split()
