"""Data sources: FSDD and yesno layouts, CSV/TSV tables, Hugging Face audiofolder, the built-in
synthesiser, ``--split whole``, and transcripts outside the token set."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import soundfile as sf

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit_speech.config import WORD_UNITS_MAX
from seqkit_speech.data import choose_units, prepare, units_of
from seqkit_speech.sources import hf_clips, read_clips
from seqkit_speech.synth import DIGITS, SYNTH_RATE, WORDS, _say_fresh, synth_split


def folder(path):
    return Source("folder", path=path)


@pytest.fixture
def fsdd_folder(tmp_path, save_audio):
    """FSDD's layout with 2 speakers x 3 digits x 12 takes of short tones."""
    for speaker in ("ann", "bob"):
        for digit in (0, 3, 7):
            for take in range(12):
                save_audio(tmp_path / "recordings" / f"{digit}_{speaker}_{take}.wav",
                           seconds=0.2, freq=200 + 50 * digit)
    return tmp_path


def test_fsdd_official_split(fsdd_folder, tiny_config):
    splits = read_clips(tiny_config(valid_fraction=0.1), folder(fsdd_folder))
    takes = {name: sorted({int(c.audio.stem.split("_")[2]) for c in clips})
             for name, clips in splits.items()}
    assert takes == {"test": [0, 1, 2, 3, 4], "valid": [5, 6, 7, 8, 9], "train": [10, 11]}
    assert {c.text for c in splits["test"]} == {"zero", "three", "seven"}
    assert all(c.text == DIGITS[int(c.audio.name[0])] for c in splits["train"])


def test_fsdd_held_out_speakers(fsdd_folder, tiny_config):
    splits = read_clips(tiny_config(holdout_speakers=("bob",)), folder(fsdd_folder))
    assert {c.speaker for c in splits["test"]} == {"bob"} and len(splits["test"]) == 36
    assert {c.speaker for c in splits["train"] + splits["valid"]} == {"ann"}
    with pytest.raises(SeqkitError, match=r"\['eve'\], who are not in the data .*ann, bob"):
        read_clips(tiny_config(holdout_speakers=("eve",)), folder(fsdd_folder))


def test_fsdd_validation_speakers_are_voices_training_never_hears(fsdd_folder, tiny_config):
    splits = read_clips(tiny_config(valid_speakers=("bob",)), folder(fsdd_folder))
    assert {c.speaker for c in splits["valid"]} == {"bob"} and len(splits["valid"]) == 36
    takes = {name: sorted({int(c.audio.stem.split("_")[2]) for c in splits[name]})
             for name in ("train", "test")}
    assert takes == {"test": [0, 1, 2, 3, 4], "train": list(range(5, 12))}
    assert {c.speaker for c in splits["train"] + splits["test"]} == {"ann"}
    with pytest.raises(SeqkitError, match="different speakers and leave at least one"):
        read_clips(tiny_config(valid_speakers=("bob",), holdout_speakers=("ann",)),
                   folder(fsdd_folder))


def test_whole_is_every_file_as_one_split(fsdd_folder, tiny_config):
    splits = read_clips(tiny_config(), Source("folder", path=fsdd_folder / "recordings",
                                               whole=True))
    assert list(splits) == ["whole"] and len(splits["whole"]) == 72


def test_yesno_layout(tmp_path, save_audio, tiny_config):
    for i in range(6):
        bits = [(i >> k) & 1 for k in range(3)]
        save_audio(tmp_path / ("_".join(map(str, bits)) + ".wav"), seconds=0.3)
    splits = read_clips(tiny_config(valid_fraction=0.34), folder(tmp_path))
    assert sum(map(len, splits.values())) == 6 and len(splits["test"]) == 3
    by_name = {c.audio.name: c.text for clips in splits.values() for c in clips}
    assert by_name["1_1_0.wav"] == "yes yes no" and by_name["0_0_1.wav"] == "no no yes"


def test_csv_with_header_and_tsv_without(tmp_path, save_audio, tiny_config):
    for i in range(10):
        save_audio(tmp_path / "clips" / f"c{i}.flac", seconds=0.2)
    rows = "\n".join(f"clips/c{i}.flac,Hello World {i}" for i in range(10))
    (tmp_path / "metadata.csv").write_text("file_name,transcription\n" + rows + "\n")
    splits = read_clips(tiny_config(valid_fraction=0.2), folder(tmp_path))
    assert sorted(map(len, splits.values())) == [2, 2, 6]
    assert splits["train"][0].text == "Hello World 0"
    (tmp_path / "metadata.csv").unlink()
    (tmp_path / "train.tsv").write_text("\n".join(f"clips/c{i}.flac\tword {i}" for i in range(7)))
    (tmp_path / "test.tsv").write_text("clips/c8.flac\tword 8\nclips/c9.flac\tword 9\n")
    splits = read_clips(tiny_config(valid_fraction=0.34), folder(tmp_path))
    assert {k: len(v) for k, v in splits.items()} == {"train": 5, "valid": 2, "test": 2}


def test_csv_row_naming_a_missing_file_reports_file_and_line(tmp_path, save_audio, tiny_config):
    save_audio(tmp_path / "a.wav")
    (tmp_path / "data.csv").write_text("path,text\na.wav,one\n\nb.wav,two\n")
    with pytest.raises(SeqkitError, match=r"data.csv:4: .*b.wav does not exist"):
        read_clips(tiny_config(), folder(tmp_path))
    sf.write(tmp_path / "none.wav", np.zeros(0, np.float32), 8000)
    (tmp_path / "data.csv").write_text("path,text\na.wav,one\nnone.wav,two\n")
    with pytest.raises(SeqkitError, match=r"none.wav \(.*data.csv:3\) holds no audio samples"):
        read_clips(tiny_config(), folder(tmp_path))  # found when the data is read, not later
    (tmp_path / "data.csv").write_text("path,text\na.wav,one\nnotes.csv,two\n")
    (tmp_path / "data.csv").rename(tmp_path / "data.tsv")
    (tmp_path / "notes.csv").write_text("x")
    with pytest.raises(SeqkitError, match="several tables"):
        read_clips(tiny_config(), folder(tmp_path))


@pytest.mark.parametrize("name", ["../secret.wav", "/abs/secret.wav", "clips/../../secret.wav"])
def test_recordings_named_outside_the_data_folder_are_refused(tmp_path, save_audio, tiny_config,
                                                              name):
    """A downloaded list cannot make seqkit read audio elsewhere on the disk, even where the
    file exists; a subfolder is inside."""
    data = tmp_path / "data"
    save_audio(tmp_path / "secret.wav")
    save_audio(data / "clips" / "ok.wav")
    target = str(tmp_path / "secret.wav") if name.startswith("/") else name
    (data / "data.csv").write_text(f"path,text\nclips/ok.wav,one\n{target},two\n")
    with pytest.raises(SeqkitError, match=r"data.csv:3: recording '.*secret.wav' lies outside"):
        read_clips(tiny_config(), folder(data))


def test_a_folder_of_something_else_is_explained(tmp_path, tiny_config):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(SeqkitError, match="not a speech data folder"):
        read_clips(tiny_config(), folder(tmp_path))


def test_transcripts_outside_the_token_set(tmp_path, save_audio, tiny_config):
    for name in ("a", "b", "c", "d"):
        save_audio(tmp_path / f"{name}.wav", seconds=0.3)
    (tmp_path / "train.csv").write_text("a.wav,abc\nb.wav,cab\nc.wav,bca\n")
    (tmp_path / "test.csv").write_text("d.wav,ab#c\n")
    config = tiny_config(valid_fraction=0.0, tokens="char")
    with pytest.raises(SeqkitError, match=r"d.wav.*test.csv:1.*'ab#c' holds \['#'\]"):
        prepare(config, folder(tmp_path), None)
    for oov, expected in (("drop", ["a", "b", "c"]), ("unk", ["a", "b", "<unk>", "c"])):
        data = prepare(dataclasses.replace(config, oov=oov), folder(tmp_path), None)
        batch = next(iter(data.split("test").epoch(0)))
        ids = batch["targets"][0, : batch["target_lengths"][0]].tolist()
        assert [data.assets.tokenizer.id_to_token(i) for i in ids] == expected


def test_auto_units_are_words_for_a_closed_vocabulary_and_characters_otherwise(
        tmp_path, save_audio, tiny_config):
    assert choose_units(["yes no no", "no yes"], "auto") == "word"
    assert choose_units([f"w{i}" for i in range(WORD_UNITS_MAX)], "auto") == "word"
    assert choose_units([f"w{i}" for i in range(WORD_UNITS_MAX + 1)], "auto") == "char"
    assert choose_units(["yes no"], "char") == "char"
    for name in ("a", "b", "c"):
        save_audio(tmp_path / f"{name}.wav", seconds=0.3)
    (tmp_path / "train.csv").write_text("a.wav,one two\nb.wav,two\nc.wav,one\n")
    for tokens, units in (("auto", "word"), ("char", "char")):
        data = prepare(tiny_config(valid_fraction=0.0, tokens=tokens), folder(tmp_path), None)
        assert units_of(data.assets.tokenizer) == units


def test_hugging_face_audiofolder_layout(tmp_path, save_audio, tiny_config):
    root = tmp_path / "af"
    for split, count in (("train", 5), ("test", 3)):
        for i in range(count):
            save_audio(root / split / f"{split}{i}.wav", seconds=0.2)
        rows = "\n".join(f"{split}{i}.wav,say {i}" for i in range(count))
        (root / split / "metadata.csv").write_text("file_name,transcription\n" + rows + "\n")
    for source in (Source("hf", name="audiofolder", config=str(root)), folder(root)):
        splits = read_clips(tiny_config(valid_fraction=0.2), source)
        assert {k: len(v) for k, v in splits.items()} == {"train": 4, "valid": 1, "test": 3}
        assert sorted(c.text for c in splits["test"]) == ["say 0", "say 1", "say 2"]


def test_hugging_face_dataset_rows_are_read_without_its_decoder(tmp_path, save_audio):
    datasets = pytest.importorskip("datasets")
    paths = [save_audio(tmp_path / f"{i}.wav", seconds=0.1 * (i + 1)) for i in range(3)]
    table = datasets.Dataset.from_dict({
        "audio": [{"bytes": p.read_bytes(), "path": p.name} for p in paths],
        "sentence": ["one", "two", "three"]})
    table = table.cast_column("audio", datasets.Audio())  # as a hub dataset declares it
    clips = hf_clips(table, "hf:x[train]")
    assert [c.text for c in clips] == ["one", "two", "three"]
    assert [round(c.seconds, 3) for c in clips] == [0.1, 0.2, 0.3]
    with pytest.raises(SeqkitError, match="needs an Audio column and a text column"):
        hf_clips(table.remove_columns("sentence"), "hf:x[train]")


def test_synthesis_is_deterministic_and_varied(tiny_config):
    config = tiny_config().synth
    first, again = synth_split(config, "train", 12), synth_split(config, "train", 12)
    for one, other in zip(first, again):
        assert one.text == other.text and np.array_equal(one.samples, other.samples)
    assert len({u.voice for u in first}) > 3
    assert all(set(u.text.split()) <= set(DIGITS + WORDS) for u in first)
    assert all(0.2 < len(u.samples) / SYNTH_RATE < 5 for u in first)
    other = synth_split(dataclasses.replace(config, seed=1), "train", 12)
    assert [u.text for u in other] != [u.text for u in first]


def test_voices_say_the_training_transcripts_in_espeak_voices(fsdd_folder, tiny_config):
    plain = read_clips(tiny_config(), folder(fsdd_folder))
    mixed = read_clips(tiny_config(voices=30), folder(fsdd_folder))
    assert mixed["train"][:len(plain["train"])] == plain["train"]
    added = mixed["train"][len(plain["train"]):]
    assert len(added) == 30 and {c.text for c in added} == {"zero", "three", "seven"}
    assert len({c.speaker for c in added}) > 3  # eSpeak voices, not the data's speakers
    assert all(isinstance(c.audio, np.ndarray) and c.rate == 8000 and 0.2 < c.seconds < 3
               for c in added)
    assert {k: v for k, v in mixed.items() if k != "train"} == \
        {k: v for k, v in plain.items() if k != "train"}  # only training hears them
    again = read_clips(tiny_config(voices=30), folder(fsdd_folder))["train"][-30:]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(added, again))
    whole = read_clips(tiny_config(voices=30), Source("folder", path=fsdd_folder, whole=True))
    assert len(whole["whole"]) == 72  # scoring a folder scores only its files


def test_synthesis_does_not_depend_on_the_clock():
    # eSpeak seeds the noise of its breathy variants (f3 is one) from the clock when it starts;
    # each utterance is reseeded from its request, so engines started seconds apart agree
    request = [("seven", "en-us+f3", 170, 50)]
    first = _say_fresh(request)[0]
    time.sleep(1.1)
    assert np.array_equal(_say_fresh(request)[0], first)


def test_real_fsdd_official_split(shared_data, tiny_config):
    splits = read_clips(tiny_config(), folder(shared_data / "fsdd"))
    assert {k: len(v) for k, v in splits.items()} == {"test": 250, "valid": 250, "train": 2000}
