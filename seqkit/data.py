"""Where data comes from: a task's built-in set, a folder of split files, or Hugging Face.

A SOURCE on the command line is one of

- nothing: the task's built-in data (``Source("builtin")``);
- a folder whose files carry ``train``, ``valid``/``val`` and ``test`` in their names (PTB,
  WikiText, Multi30k); any subset of the splits may be present;
- ``hf:NAME[:CONFIG]``: a Hugging Face dataset, read through ``datasets``.

With ``Source.whole`` (``seqkit eval RUN --data FOLDER --split whole``) a task's ``prepare``
returns a single split named ``"whole"`` holding every example of the source (every file of a
folder: ``data_files``; every split of the others), to score a model on new data.
"""
from __future__ import annotations

import os
import random
import re
import socket
import sys
import threading
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from seqkit.errors import SeqkitError, brief

SPLITS = ("train", "valid", "test")
_SPLIT_WORDS = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid",
                "dev": "valid", "test": "test"}


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE."""

    kind: str  # "builtin", "folder" or "hf"
    path: Path | None = None  # the folder, for kind "folder"
    name: str = ""  # dataset id, for kind "hf"
    config: str | None = None  # dataset config, for kind "hf"
    # every example as one split named "whole", whatever file names or layout say about splits
    # (``seqkit eval RUN --data FOLDER --split whole``: scoring a model on new data)
    whole: bool = False

    def __str__(self) -> str:
        return {"builtin": "built-in data", "folder": str(self.path),
                "hf": f"hf:{self.name}" + (f":{self.config}" if self.config else "")}[self.kind]

    def spec(self) -> str:
        """The ``--data`` text that names this source again from any working folder (a run
        records it, so that ``--resume`` reads the same data)."""
        if self.kind == "folder":
            return str(Path(self.path).resolve())
        return "builtin" if self.kind == "builtin" else str(self)


def parse_source(text: str | None) -> Source:
    """Turn the ``--data`` argument into a ``Source``; a folder must exist."""
    if not text or text == "builtin":
        return Source("builtin")
    if text.startswith("hf:"):
        name, _, config = text[3:].partition(":")
        if not name:
            raise SeqkitError("--data hf: needs a dataset id, e.g. hf:wikitext:wikitext-2-raw-v1")
        return Source("hf", name=name, config=config or None)
    path = Path(text)
    if not path.is_dir():
        raise SeqkitError(f"--data {text}: no such folder (give a folder with train/valid/test "
                          "files, hf:NAME[:CONFIG], or nothing for the built-in data)")
    return Source("folder", path=path)


def split_of(filename: str) -> str | None:
    """The split a file name names (``ptb.train.txt`` -> ``train``), or None."""
    for word in re.split(r"[^a-z]+", filename.lower()):
        if word in _SPLIT_WORDS:
            return _SPLIT_WORDS[word]
    return None


def split_files(folder: Path, suffixes: tuple[str, ...] = ()) -> dict[str, list[Path]]:
    """Group the files of ``folder`` by split; ``suffixes`` (e.g. ``(".txt",)``) filters them.

    Fails with a clear message when no file names a split, or when a named file is empty.
    """
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or (suffixes and not path.name.endswith(suffixes)):
            continue
        split = split_of(path.name)
        if split:
            if path.stat().st_size == 0:
                raise SeqkitError(f"{path} is empty")
            found.setdefault(split, []).append(path)
    if not found:
        names = ", ".join(p.name for p in sorted(folder.iterdir())[:10]) or "nothing"
        raise SeqkitError(f"{folder} has no file whose name says train, valid/val or test "
                          f"(it has: {names})")
    return found


def data_files(folder: Path, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Every data file of ``folder`` whatever its name says about splits (``--split whole``):
    sorted, hidden files skipped, ``suffixes`` filtering. Fails clearly when there is none or
    when one is empty."""
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
             and (not suffixes or p.name.endswith(suffixes))]
    if not found:
        kinds = f" ending in {', '.join(suffixes)}" if suffixes else ""
        raise SeqkitError(f"{folder} has no data file{kinds}")
    for path in found:
        if path.stat().st_size == 0:
            raise SeqkitError(f"{path} is empty")
    return found


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, with a clear error for unreadable or binary files."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SeqkitError(f"cannot read {path} as UTF-8 text: {err}") from err


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (``HF_ENDPOINT``) accepts a connection within ``timeout``
    seconds. Behind a proxy it is assumed to (the proxy decides)."""
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if url.scheme in urllib.request.getproxies():
        return True
    address = (url.hostname, url.port or {"http": 80}.get(url.scheme, 443))
    answers: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            answers.append(True)
        except OSError:
            answers.append(False)

    probe = threading.Thread(target=connect, daemon=True)  # name lookups ignore the timeout
    probe.start()
    probe.join(timeout)
    return bool(answers and answers[0])


OFFLINE_HINT = ("the Hugging Face Hub cannot be reached from this machine, and it is not in "
                "the local cache: connect to the network, or use local files")


@contextmanager
def hub_access() -> Iterator[bool]:
    """Run Hugging Face loads inside this: where the Hub cannot be reached, ``huggingface_hub``
    (and ``datasets``, if imported) work offline for the duration, so that cached files still
    load and anything else fails at once, not after five retries over half a minute. Yields
    whether it is offline."""
    import huggingface_hub.constants as hub

    offline = hub.HF_HUB_OFFLINE or not hub_reachable()
    flags = [(hub, "HF_HUB_OFFLINE")]
    if "datasets.config" in sys.modules:
        flags += [(sys.modules["datasets.config"], n) for n in ("HF_HUB_OFFLINE",
                                                                "HF_DATASETS_OFFLINE")]
    saved = [getattr(module, name) for module, name in flags]
    for module, name in flags:
        setattr(module, name, offline)
    try:
        yield offline
    finally:
        for (module, name), value in zip(flags, saved):
            setattr(module, name, value)


def hf_splits(source: Source) -> dict:
    """Load a Hugging Face dataset; returns ``{"train"|"valid"|"test": datasets.Dataset}``.
    Offline, only a cached dataset loads; otherwise it fails at once (``hub_access``)."""
    import datasets

    with hub_access() as offline:
        try:
            loaded = datasets.load_dataset(source.name, source.config)
        except Exception as err:  # datasets raises many types: no network, unknown id, bad config
            why = f" ({OFFLINE_HINT})" if offline else ""
            raise SeqkitError(f"cannot load {source}: {brief(err)}{why}") from err
    out = {}
    for name, split in loaded.items():
        key = _SPLIT_WORDS.get(name)
        if key and key not in out:
            out[key] = split
    if not out:
        raise SeqkitError(f"{source} has no train/validation/test split (has: {list(loaded)})")
    return out


def holdout_indices(count: int, fractions: dict[str, float]) -> dict[str, list[int]]:
    """Cut ``count`` examples into held-out splits of the given ``fractions`` and ``train``
    (the rest): sorted index lists, in a shuffled order seeded by ``count`` alone, so that the
    same data always splits the same way. A split whose share rounds to nothing is left out."""
    order = list(range(count))
    random.Random(count).shuffle(order)
    out, start = {}, 0
    for split, fraction in fractions.items():
        size = round(count * fraction)
        if size:
            out[split] = sorted(order[start: start + size])
            start += size
    out["train"] = sorted(order[start:])
    return out


def inside_folder(name: str, where: str, what: str = "file") -> str:
    """``name``, a path read from a data file (a caption CSV, an audio list), if it stays inside
    the data folder: relative, without ``..`` and no drive, so a data file cannot make seqkit
    read files elsewhere on the machine; otherwise a ``SeqkitError`` naming ``where``. Links
    inside the folder are followed, so files kept elsewhere can be linked in."""
    parts = Path(name.replace("\\", "/")).parts
    if os.path.isabs(name) or ".." in parts or (parts and parts[0].endswith(":")):
        raise SeqkitError(f"{where}: {what} '{name}' lies outside the data folder; paths must be "
                          f"relative to it, without '..'. Copy or link the {what}s into the "
                          "data folder")
    return name
