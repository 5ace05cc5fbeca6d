"""The speech task end to end: the core's contract, a tiny model that learns, predict (offline
and streaming), evaluation on a folder as one split, and bad input at recognition time."""
from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest
import soundfile as sf

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.jobs import evaluate_run
from seqkit.rundir import load
from seqkit.task import get_task
from seqkit.testing import check_config, check_task
from seqkit_speech import (PredictOptions, Recognizer, SpeechConfig, SynthConfig, task,
                           transcribe)
from seqkit_speech.audio import read_audio
from seqkit_speech.synth import SYNTH_RATE, synth_split


def test_contract(tmp_path, tiny_config):
    check_task(task, tiny_config(), tmp_path)


def test_found_by_name_and_every_field_commented():
    assert get_task("speech") is task and not task.streams and task.predict is not None
    check_config(SpeechConfig)
    source = inspect.getsource(SynthConfig).splitlines()
    for field in dataclasses.fields(SynthConfig):
        assert "#" in next(ln for ln in source if ln.strip().startswith(f"{field.name}:"))


def test_a_tiny_model_learns_to_name_digits(digit_run):
    _, metrics = digit_run
    # 43 held-out utterances of 10 digits: chance is 10%
    assert metrics["test_accuracy"] >= 0.6, metrics
    assert metrics["test_wer"] <= 0.4 and metrics["test_rtf"] < 0.1


@pytest.fixture(scope="module")
def held_out(digit_run, tmp_path_factory):
    """Test utterances of the built-in data, written as 16-bit WAV files at 22,050 Hz."""
    run = load(digit_run[0])
    folder = tmp_path_factory.mktemp("said")
    files = []
    for i, utterance in enumerate(synth_split(run.config.synth, "test", 8)):
        path = folder / f"u{i}.wav"
        sf.write(path, utterance.samples, SYNTH_RATE, subtype="PCM_16")
        files.append((path, utterance.text))
    return files


def test_predict_prints_the_text_then_json(digit_run, held_out):
    run = load(digit_run[0])
    right = 0
    for path, truth in held_out:
        text, last = run.task.predict(run, PredictOptions(audio=str(path))).splitlines()
        info = json.loads(last)
        assert info["text"] == text and info["audio_s"] > 0.2 and info["rtf"] < 1
        right += text == truth
    assert right >= 4, "most held-out digits are recognised from their files"


def test_streaming_recognition_equals_offline(digit_run, held_out):
    run = load(digit_run[0])
    rate = run.config.sample_rate
    for path, _ in held_out[:4]:
        offline = transcribe(run, path, beam=1, name=path.name)
        wave = read_audio(path, rate)
        stream = Recognizer(run)
        for start in range(0, wave.numel(), 777):
            stream.feed(wave[start: start + 777], rate)
        assert (stream.all_logits() - offline.logits).abs().max() < 1e-5
        assert stream.finish() == offline.text
    line = run.task.predict(run, PredictOptions(audio=str(held_out[0][0]), chunk_ms=80))
    info = json.loads(line.splitlines()[-1])
    assert info["chunks"] > 5 and info["mean_chunk_latency_ms"] > 0


def test_microphone_chunks_at_another_rate_stream_close_to_the_whole(digit_run, held_out):
    run = load(digit_run[0])
    samples, rate = sf.read(held_out[1][0], dtype="int16")  # a microphone's int16 at 22,050 Hz
    whole, chunked = Recognizer(run), Recognizer(run)
    whole.feed(samples, rate)
    quarter = rate // 4
    partials = [chunked.feed(samples[i: i + quarter], rate) for i in range(0, len(samples), quarter)]
    assert len(partials) == -(-len(samples) // quarter)
    a, b = whole.all_logits(), chunked.all_logits()
    assert a.shape == b.shape
    assert (a - b).abs().mean() < 0.05 * a.abs().mean()  # resampled chunk by chunk


def test_eval_scores_a_folder_as_one_split(digit_run, held_out):
    folder = held_out[0][0].parent
    rows = "\n".join(f"{p.name},{text}" for p, text in held_out)
    (folder / "said.csv").write_text("path,text\n" + rows + "\n")
    metrics = evaluate_run(digit_run[0], Source("folder", path=folder, whole=True), "whole")
    assert metrics["utterances"] == 8.0 and metrics["accuracy"] >= 0.5


def test_recognition_refuses_bad_audio(digit_run, tmp_path):
    run = load(digit_run[0])
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(4000, np.float32), 8000)
    long = tmp_path / "long.wav"
    sf.write(long, np.full(8000 * 31, 0.1, np.float32), 8000)
    cases = [(quiet, "quiet.wav is silent"), (long, "long.wav lasts 31.0 s, over the limit")]
    for path, message in cases:
        with pytest.raises(SeqkitError, match=message):
            run.task.predict(run, PredictOptions(audio=str(path)))
    with pytest.raises(SeqkitError, match="--audio FILE"):
        run.task.predict(run, PredictOptions())
    bidirectional = dataclasses.replace(run, model=task.build_model(
        dataclasses.replace(run.config, bidirectional=True), run.assets))
    with pytest.raises(SeqkitError, match="cannot stream"):
        Recognizer(bidirectional)
