"""Where speech data comes from: every ``--data`` SOURCE becomes ``{split: [Clip, ...]}``.

- nothing: the built-in eSpeak NG utterances (``seqkit_speech.synth``);
- a folder in the Free Spoken Digit layout, ``recordings/{digit}_{speaker}_{index}.wav`` (or
  those files directly): transcript = the digit's word; official split (index 0-4 test,
  the rest train, the first indices of train for validation), or held-out speakers;
- a folder in the yesno layout, ``0_1_1_0_1_0_0_1.wav``: 0 = "no", 1 = "yes";
- a folder with a CSV or TSV of ``path,text`` (a header may name the columns: ``path``,
  ``file``, ``file_name`` (Hugging Face ``audiofolder``'s ``metadata.csv``), ``audio``;
  ``text``, ``transcript``, ``transcription``, ``sentence``); files named by a split
  (``train.csv``, ``valid.tsv``, ``test.csv``) give those splits;
- ``hf:NAME[:CONFIG]``: a Hugging Face dataset with an audio column and a text column, read
  through ``datasets`` without its decoder (which needs torchcodec and FFmpeg); a local
  ``audiofolder`` (``metadata.csv`` with ``file_name``, in split subfolders or not) is read as
  a folder of tables, also when given as ``hf:audiofolder:DIR``.

With ``--voices N``, N more training clips say the training transcripts in eSpeak NG voices.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqkit.data import Source, inside_folder, split_of
from seqkit.errors import SeqkitError, brief
from seqkit_speech.audio import audio_info, resample
from seqkit_speech.config import SpeechConfig
from seqkit_speech.synth import DIGITS, SYNTH_RATE, synth_split

FSDD_NAME = re.compile(r"^(\d)_([A-Za-z][^_]*)_(\d+)\.wav$")  # a speaker is a name
YESNO_NAME = re.compile(r"^[01](_[01])+\.wav$")
PATH_COLUMNS = ("path", "file", "file_name", "filename", "audio", "wav")
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence", "label")
FSDD_TAKES = 50  # takes per speaker and digit in FSDD
FSDD_TEST_TAKES = 5  # takes 0-4 are the official test split


@dataclass
class Clip:
    """One utterance: where its audio is, what it says, and how long it lasts."""

    audio: Any  # a file path, the bytes of a file, or float32 samples (np.ndarray)
    text: str  # the transcript
    name: str  # for messages: the file (and CSV line) it came from
    seconds: float  # duration, for length bucketing
    rate: int = 0  # sample rate of ``audio`` when it is samples
    speaker: str = ""  # who speaks, where the layout says so


def file_clip(path: Path, text: str, name: str | None = None, speaker: str = "") -> Clip:
    """A clip of an audio file, its header checked now (missing, empty or not audio: an error
    that names ``name``)."""
    frames, rate = audio_info(path, name or str(path))
    return Clip(path, text, name or str(path), frames / rate, speaker=speaker)


def builtin(config: SpeechConfig) -> dict[str, list[Clip]]:
    """The eSpeak NG utterances of every split."""
    synth = config.synth
    counts = {"train": synth.train_utterances, "valid": synth.valid_utterances,
              "test": synth.test_utterances}
    return {split: synth_clips(synth_split(synth, split, count), split, config.sample_rate)
            for split, count in counts.items()}


def synth_clips(utterances: list, split: str, rate: int) -> list[Clip]:
    """Clips of synthesised utterances, resampled to the model's ``rate``."""
    return [Clip(resample(torch.from_numpy(u.samples), SYNTH_RATE, rate).numpy(), u.text,
                 f"{split} utterance {i} ({u.voice})", len(u.samples) / SYNTH_RATE, rate, u.voice)
            for i, u in enumerate(utterances)]


def with_voices(train: list[Clip], config: SpeechConfig) -> list[Clip]:
    """``train`` and ``config.voices`` more clips: its transcripts said by eSpeak voices drawn
    as for the built-in data (``config.synth``: voices, rate, pitch, noise, seed)."""
    texts = sorted({" ".join(clip.text.split()) for clip in train})
    said = synth_split(config.synth, "voices", config.voices, texts)
    return train + synth_clips(said, "voices", config.sample_rate)


def fsdd_files(folder: Path) -> list[Path] | None:
    """The recordings of an FSDD-layout folder, or None if it is not one."""
    base = folder / "recordings" if (folder / "recordings").is_dir() else folder
    wavs = sorted(p for p in base.iterdir() if p.suffix.lower() == ".wav")
    return wavs if wavs and all(FSDD_NAME.match(p.name) for p in wavs) else None


def fsdd(files: list[Path], config: SpeechConfig) -> dict[str, list[Clip]]:
    """FSDD splits: official by take index, or ``holdout_speakers`` as the test split (and
    ``valid_speakers`` as the validation split; else the first takes of the others)."""
    held, heard = set(config.holdout_speakers), set(config.valid_speakers)
    speakers = {FSDD_NAME.match(p.name).group(2) for p in files}
    for option, named in (("holdout", held), ("valid", heard)):
        if named - speakers:
            raise SeqkitError(f"--{option}-speakers names {sorted(named - speakers)}, who are "
                              f"not in the data (its speakers: {', '.join(sorted(speakers))})")
    if held & heard or not speakers - held - heard:
        raise SeqkitError("--holdout-speakers and --valid-speakers must name different "
                          "speakers and leave at least one to train on")
    valid_takes = round(FSDD_TAKES * config.valid_fraction)
    out: dict[str, list[Clip]] = {}
    for path in files:
        digit, speaker, take = FSDD_NAME.match(path.name).groups()
        split = _fsdd_split(speaker, int(take), held, heard, valid_takes)
        out.setdefault(split, []).append(file_clip(path, DIGITS[int(digit)], speaker=speaker))
    return out


def _fsdd_split(speaker: str, take: int, held: set, heard: set, valid_takes: int) -> str:
    """The split of one FSDD recording: held-out speakers test, validation speakers valid;
    without held-out speakers the first takes are the official test split; without
    validation speakers the next ``valid_takes`` takes validate."""
    if speaker in held or speaker in heard:
        return "test" if speaker in held else "valid"
    first = 0 if held else FSDD_TEST_TAKES
    if take < first:
        return "test"
    return "valid" if not heard and take < first + valid_takes else "train"


def yesno(files: list[Path], config: SpeechConfig) -> dict[str, list[Clip]]:
    """yesno splits: the first half of the sorted files test, the rest train (and valid)."""
    clips = [file_clip(p, yesno_transcript(p)) for p in files]
    half = len(clips) // 2
    return {"test": clips[:half], **cut_valid(clips[half:], config.valid_fraction)}


def yesno_transcript(path: Path) -> str:
    """What a yesno recording says: ``0_1_1.wav`` -> "no yes yes"."""
    return " ".join("yes" if bit == "1" else "no" for bit in path.stem.split("_"))


def cut_valid(clips: list[Clip], fraction: float, test: bool = False) -> dict[str, list[Clip]]:
    """``train`` and ``valid`` (every ``1/fraction``-th clip), and with ``test`` as many again
    (the clips just before those) as ``test``; seeded by nothing, the data's order only."""
    if fraction <= 0 or len(clips) < 2:
        return {"train": clips}
    step = max(3 if test else 2, round(1 / fraction))
    roles = {step - 1: "valid", step - 2: "test"} if test else {step - 1: "valid"}
    out: dict[str, list[Clip]] = {"train": []}
    for i, clip in enumerate(clips):
        out.setdefault(roles.get(i % step, "train"), []).append(clip)
    return out


def _columns(header: list[str], table: Path) -> tuple[int, int, bool]:
    """Indices of the path and text columns, and whether the first row is a header."""
    names = [h.strip().lower() for h in header]
    path = next((names.index(n) for n in PATH_COLUMNS if n in names), None)
    text = next((names.index(n) for n in TEXT_COLUMNS if n in names), None)
    if path is not None and text is not None:
        return path, text, True
    if path is not None or text is not None:
        raise SeqkitError(f"{table}: the header {header} needs a path column ({', '.join(PATH_COLUMNS)}) "
                          f"and a text column ({', '.join(TEXT_COLUMNS)})")
    return 0, 1, False


def read_table(table: Path) -> list[Clip]:
    """The clips of one CSV/TSV file; a bad row is an error naming the file and line."""
    delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    try:
        rows = list(csv.reader(table.read_text(encoding="utf-8").splitlines(), delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SeqkitError(f"cannot read {table} as a UTF-8 table of path,text: {err}") from err
    if not rows:
        raise SeqkitError(f"{table} is empty; write one path,text row per recording")
    path_col, text_col, header = _columns(rows[0], table)
    clips = []
    for line, row in enumerate(rows, start=1):
        if (header and line == 1) or not any(cell.strip() for cell in row):
            continue
        where = f"{table}:{line}"
        if len(row) <= max(path_col, text_col):
            raise SeqkitError(f"{where}: expected path{delimiter}text, got {row}")
        audio = table.parent / inside_folder(row[path_col].strip(), where, "recording")
        if not _is_file(audio, where):
            raise SeqkitError(f"{where}: {audio} does not exist; fix the path (relative to "
                              f"{table.parent}) or remove the row")
        clips.append(file_clip(audio, row[text_col].strip(), f"{audio} ({where})"))
    return clips


def _is_file(path: Path, where: str) -> bool:
    try:
        return path.is_file()
    except OSError as err:  # e.g. a name longer than the file system allows
        raise SeqkitError(f"{where}: cannot use the path '{path}': {brief(err)}") from err


def tables(folder: Path, config: SpeechConfig) -> dict[str, list[Clip]] | None:
    """Splits of a folder with CSV/TSV tables (or split subfolders that hold one each, as in
    Hugging Face's ``audiofolder`` layout), or None if it has none."""
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".tsv"))
    if not found:
        found = sorted(p for sub in folder.iterdir() if sub.is_dir() and split_of(sub.name)
                       for p in sub.iterdir() if p.suffix.lower() in (".csv", ".tsv"))
        if not found:
            return None
        named = {p: split_of(p.parent.name) for p in found}
    else:
        named = {p: split_of(p.stem) for p in found}
    if len(found) > 1 and (None in named.values() or len(set(named.values())) < len(found)):
        raise SeqkitError(f"{folder} holds several tables ({', '.join(p.name for p in found)}); "
                          "name each by its split (train.csv, valid.csv, test.csv) or keep one")
    if None in named.values():
        return cut_valid(read_table(found[0]), config.valid_fraction, test=True)
    out = {split: read_table(p) for p, split in named.items()}
    if "train" in out and "valid" not in out:
        out.update(cut_valid(out.pop("train"), config.valid_fraction))
    return out


def huggingface(source: Source) -> dict[str, list[Clip]]:
    """The splits of a Hugging Face dataset id, read through ``datasets``."""
    from seqkit.data import hf_splits

    return {name: hf_clips(split, f"{source}[{name}]")
            for name, split in hf_splits(source).items()}


def hf_clips(split, label: str) -> list[Clip]:
    """Clips of one ``datasets.Dataset``: its Audio column read as file bytes (no decoder)."""
    import datasets

    audio_col = next((n for n, f in split.features.items() if isinstance(f, datasets.Audio)), None)
    text_col = next((n for n in TEXT_COLUMNS if n in split.features), None)
    if audio_col is None or text_col is None:
        raise SeqkitError(f"{label} needs an Audio column and a text column ("
                          f"{', '.join(TEXT_COLUMNS)}); it has {list(split.features)}")
    split = split.cast_column(audio_col, datasets.Audio(decode=False))
    clips = []
    for i, row in enumerate(split):
        audio, name = row[audio_col], f"{label} row {i}"
        data = audio.get("bytes") or Path(audio["path"]).read_bytes()
        frames, rate = audio_info(data, name)
        clips.append(Clip(data, str(row[text_col]), name, frames / rate))
    return clips


def read_clips(config: SpeechConfig, source: Source) -> dict[str, list[Clip]]:
    """Every split of ``source``; with ``source.whole``, all clips as one split ``whole``."""
    if source.kind == "builtin":
        splits = builtin(config)
    elif source.kind == "hf" and not (source.name == "audiofolder" and source.config):
        splits = huggingface(source)
    else:  # a folder; hf:audiofolder:DIR is read here too, without datasets' audio codec
        folder = source.path or Path(source.config)
        if not folder.is_dir():
            raise SeqkitError(f"{folder}: no such folder")
        wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
        if (files := fsdd_files(folder)) is not None:
            splits = fsdd(files, config)
        elif wavs and all(YESNO_NAME.match(p.name) for p in wavs):
            splits = yesno(wavs, config)
        elif (found := tables(folder, config)) is not None:
            splits = found
        else:
            raise SeqkitError(f"{folder} is not a speech data folder: give a CSV/TSV of "
                              "path,text beside the audio, FSDD's recordings/{digit}_{speaker}_"
                              "{index}.wav, or yesno's 0_1_..._1.wav files")
    splits = {k: v for k, v in splits.items() if v}
    if config.voices and "train" in splits and not source.whole:
        splits["train"] = with_voices(splits["train"], config)
    if source.whole:
        return {"whole": [clip for clips in splits.values() for clip in clips]}
    return splits


def samples_of(clip: Clip) -> tuple[np.ndarray, int] | None:
    """``(samples, rate)`` of an in-memory clip, None for a file."""
    return (clip.audio, clip.rate) if isinstance(clip.audio, np.ndarray) else None
