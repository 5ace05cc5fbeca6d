"""Reading captioned images: folders with CSV / JSON-lines / COCO / Karpathy files, Hugging Face
``imagefolder`` layouts and ``hf:`` dataset ids. Each reader returns ``CaptionSet``s, one per split
the data names; a single unnamed file is split later, by image.

A folder may hold, for example::

    captions.csv              image,caption    (several rows per image allowed; Flickr8k style)
    images/...                the files the rows name (also looked up beside the CSV itself)
    train.jsonl / test.jsonl  {"image": "a.jpg", "caption": "..."} or {"file_name", "captions"}
    annotations/captions_train2017.json + train2017/          COCO captions
    dataset_flickr8k.json     Karpathy's split file ("images": [{"filename", "split", "sentences"}])
    train/metadata.jsonl      Hugging Face imagefolder (file_name + caption columns), per split
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from seqkit.data import Source, hf_splits, inside_folder, split_of
from seqkit.errors import SeqkitError

IMAGE_COLUMNS = ("image", "file_name", "filename", "image_path", "path", "img")
CAPTION_COLUMNS = ("caption", "captions", "text", "sentence", "sentences", "description")
_SPLIT_DIRS = ("train", "valid", "validation", "val", "dev", "test")
_KARPATHY = {"train": "train", "restval": "train", "val": "valid", "test": "test"}


def normalize_caption(text: str) -> str:
    """Lower case, words only (punctuation dropped, inner apostrophes kept), single spaces."""
    return " ".join(re.findall(r"\w+(?:'\w+)*", str(text).lower()))


@dataclass
class CaptionSet:
    """Images with their normalised captions (at least one each)."""

    images: list = field(default_factory=list)  # one image reference each (see images.py)
    captions: list[list[str]] = field(default_factory=list)  # normalised captions per image
    names: list[str] = field(default_factory=list)  # how messages and samples name each image

    def add(self, image: Any, name: str, captions: list[str]) -> None:
        """Append one image."""
        self.images.append(image)
        self.names.append(name)
        self.captions.append(captions)

    def extend(self, other: "CaptionSet") -> None:
        """Append every image of ``other``."""
        for image, name, caps in zip(other.images, other.names, other.captions):
            self.add(image, name, caps)

    def subset(self, indices: list[int]) -> "CaptionSet":
        """The images at ``indices``, in that order."""
        return CaptionSet([self.images[i] for i in indices],
                          [self.captions[i] for i in indices], [self.names[i] for i in indices])

    def __len__(self) -> int:
        return len(self.images)


def _caption_texts(value: Any) -> list[str]:
    """A caption cell: a string, a list of strings, or a list of ``{"raw": ...}`` dicts."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [str(value)]
    return [v.get("raw", v.get("caption", "")) if isinstance(v, dict) else str(v) for v in value]


def _normalized(texts: list[str], where: str, name: str) -> list[str]:
    out = []
    for text in texts:
        caption = normalize_caption(text)
        if not caption:
            raise SeqkitError(f"{where}: the caption of {name} is empty after tokenisation "
                              f"({text!r}); fix or remove it")
        out.append(caption)
    if not out:
        raise SeqkitError(f"{where}: {name} has no caption")
    return out


def _column(columns: list[str], wanted: tuple, what: str, where: str) -> str:
    for name in wanted:
        if name in columns:
            return name
    raise SeqkitError(f"{where} has no {what} column (looked for {', '.join(wanted)}; "
                      f"it has {', '.join(map(str, columns)) or 'none'})")


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` of a CSV file; a malformed row (a field over the ``csv`` module's limit of
    131,072 characters, often from an unclosed quote, or a NUL byte) names its line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as err:  # raised while reading the line after line_num
            raise SeqkitError(f"{path}:{reader.line_num + 1}: not a readable CSV row ({err}); a "
                              "caption may hold at most 131,072 characters: look for an "
                              "unclosed quote there") from None


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line, record)`` of a CSV, JSON-lines, or JSON list-of-records file."""
    try:
        if path.suffix == ".csv":
            yield from _csv_rows(path)
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                for line, text in enumerate(handle, 1):
                    if text.strip():
                        try:
                            yield line, json.loads(text)
                        except json.JSONDecodeError as err:
                            raise SeqkitError(f"{path}:{line}: not valid JSON ({err})") from err
        else:
            yield from ((i + 1, r) for i, r in enumerate(json.loads(path.read_text("utf-8"))))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SeqkitError(f"cannot read {path}: {err}") from err


def _find_image(name: str, folders: list[Path], where: str) -> Path | None:
    inside_folder(name, where, "image")
    for folder in folders:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def read_records(path: Path) -> CaptionSet:
    """A CSV / JSON-lines / JSON-records file of ``image, caption`` rows; rows naming the same
    image are merged. Image paths are relative to the file's folder or its ``images/``."""
    folders = [path.parent, path.parent / "images"]
    by_image: dict[str, tuple[Path, list[str]]] = {}
    columns = None
    for line, record in _records(path):
        where = f"{path}:{line}"
        if not isinstance(record, dict):
            raise SeqkitError(f"{where}: expected a record with image and caption fields")
        if columns is None:
            columns = (_column(list(record), IMAGE_COLUMNS, "image", str(path)),
                       _column(list(record), CAPTION_COLUMNS, "caption", str(path)))
        name = str(record.get(columns[0]) or "").strip()
        if name not in by_image:
            found = _find_image(name, folders, where) if name else None
            if found is None:
                raise SeqkitError(f"{where}: image '{name}' not found (looked in "
                                  f"{' and '.join(map(str, folders))})")
            by_image[name] = (found, [])
        by_image[name][1].extend(_normalized(_caption_texts(record.get(columns[1])), where, name))
    data = CaptionSet()
    for name, (found, captions) in by_image.items():
        data.add(found, name, captions)
    if not data:
        raise SeqkitError(f"{path} holds no captioned images")
    return data


def _shape_error(path: Path, kind: str, expected: str, where: str, got: Any) -> SeqkitError:
    return SeqkitError(f"{path} looks like {kind} but is malformed: {where} should be {expected}, "
                       f"not {json.dumps(got)[:60]}")


def _checked_list(path: Path, kind: str, meta: dict, key: str, fields: dict) -> list[dict]:
    """``meta[key]``, checked to be a list of objects whose ``fields`` have the given types."""
    items = meta[key]
    if not isinstance(items, list):
        raise _shape_error(path, kind, "a list", f"'{key}'", items)
    for number, item in enumerate(items):
        for name, types in fields.items():
            if not isinstance(item, dict) or not isinstance(item.get(name), types):
                need = " or ".join(t.__name__ for t in types)
                raise _shape_error(path, kind, f"an object with a '{name}' ({need})",
                                   f"{key}[{number}]", item)
    return items


def read_coco(path: Path, meta: dict, root: Path | None = None) -> CaptionSet:
    """COCO captions (``images`` + ``annotations``); images in a folder named like the file's
    split (``train2017`` for ``captions_train2017.json``), ``images/``, or beside the file,
    never above the data folder ``root``."""
    stem = path.stem.split("_", 1)[-1]
    bases = [path.parent] + ([path.parent.parent] if root is None or path.parent != root else [])
    folders = [base / sub for base in bases for sub in (stem, "images", ".")]
    kind, key = "COCO captions", (int, str)
    files = {img["id"]: img["file_name"] for img in _checked_list(
        path, kind, meta, "images", {"id": key, "file_name": (str,)})}
    captions: dict[Any, list[str]] = {}
    for ann in _checked_list(path, kind, meta, "annotations",
                             {"image_id": key, "caption": (str,)}):
        captions.setdefault(ann["image_id"], []).append(ann["caption"])
    data = CaptionSet()
    for image_id, texts in captions.items():
        where = f"{path} (image id {image_id})"
        if image_id not in files:
            raise SeqkitError(f"{where}: the annotations name an image that 'images' lacks")
        found = _find_image(files[image_id], folders, where)
        if found is None:
            raise SeqkitError(f"{where}: image '{files[image_id]}' not found (looked in "
                              f"{', '.join(str(f) for f in folders)})")
        data.add(found, files[image_id], _normalized(texts, where, files[image_id]))
    return data


def read_karpathy(path: Path, meta: dict) -> dict[str, CaptionSet]:
    """Karpathy's split file: every image names its split and lists its sentences."""
    splits: dict[str, CaptionSet] = {}
    images = _checked_list(path, "a Karpathy split file", meta, "images",
                           {"filename": (str,), "sentences": (list,), "split": (str, type(None)),
                            "filepath": (str, type(None))})
    folders = [path.parent, path.parent / "images"]
    for number, image in enumerate(images, 1):
        name = str(Path(image.get("filepath") or "") / image["filename"])
        where = f"{path} (image {number})"
        found = _find_image(name, folders, where) or _find_image(image["filename"], folders, where)
        if found is None:
            raise SeqkitError(f"{where}: image '{name}' not found under {path.parent}")
        split = _KARPATHY.get(image.get("split") or "train", "train")
        splits.setdefault(split, CaptionSet()).add(
            found, name, _normalized(_caption_texts(image["sentences"]), where, name))
    if not splits:
        raise SeqkitError(f"{path} holds no captioned images")
    return splits


def read_file(path: Path, root: Path) -> dict[str | None, CaptionSet]:
    """One caption file of the folder ``root``, by its kind; keys are splits (None: neither
    the file's name nor its split subfolder names one)."""
    inner = path.parent != root and path.parent.name.lower() in _SPLIT_DIRS
    split = split_of(path.name) or (split_of(path.parent.name) if inner else None)
    if path.suffix == ".json":
        try:
            meta = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SeqkitError(f"cannot read {path}: {err}") from err
        if isinstance(meta, dict) and "annotations" in meta and "images" in meta:
            return {split: read_coco(path, meta, root)}
        if isinstance(meta, dict) and "images" in meta:
            return read_karpathy(path, meta)
        if not isinstance(meta, list):
            raise SeqkitError(f"{path} is neither COCO captions, a Karpathy split file, nor a "
                              "list of {image, caption} records")
    return {split: read_records(path)}


def caption_files(folder: Path) -> list[Path]:
    """The caption files of a folder: its CSV / JSON(L) files, ``annotations/*.json``, and
    ``metadata.*`` in split subfolders."""
    files = [p for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".jsonl", ".json")]
    files += sorted((folder / "annotations").glob("*.json"))
    for sub in _SPLIT_DIRS:
        files += [p for p in sorted((folder / sub).glob("metadata.*"))
                  if p.suffix in (".csv", ".jsonl")]
    return [p for p in files if p.is_file()]


def read_folder(folder: Path) -> dict[str | None, CaptionSet]:
    """Every caption file of ``folder``, merged per split (None: no split named)."""
    files = caption_files(folder)
    if not files:
        raise SeqkitError(f"{folder} has no caption file: put a captions.csv (image,caption), a "
                          "JSON-lines file, COCO captions JSON or metadata.jsonl there")
    splits: dict[str | None, CaptionSet] = {}
    for path in files:
        for split, data in read_file(path, folder).items():
            splits.setdefault(split, CaptionSet()).extend(data)
    return splits


class HFImage:
    """A lazy reference to one image of a Hugging Face dataset (decoded only when used)."""

    def __init__(self, dataset, column: str, row: int):
        self.dataset, self.column, self.row = dataset, column, row

    def __call__(self):
        return self.dataset[self.row][self.column]


def _image_paths(dataset, column: str) -> list | None:
    """The file path behind every row's image, where the dataset records one for each."""
    import pyarrow.compute as pc

    try:
        paths = pc.struct_field(dataset.with_format("arrow")[column], "path").to_pylist()
    except (KeyError, TypeError, ValueError, NotImplementedError):
        return None
    return paths if all(paths) else None


def from_hf(dataset, label: str) -> CaptionSet:
    """A ``datasets.Dataset`` with an image column and a caption column (a string or a list of
    strings per row). Rows that share an image file are one image with several captions; the
    images are decoded by Pillow only when used."""
    import datasets

    columns = list(dataset.column_names)
    image_col = next((c for c in columns if isinstance(dataset.features[c], datasets.Image)),
                     None) or _column(columns, IMAGE_COLUMNS, "image", label)
    caption_col = _column(columns, CAPTION_COLUMNS, "caption", label)
    if isinstance(dataset.features[image_col], datasets.Image):
        dataset = dataset.cast_column(image_col, datasets.Image(decode=False))
    paths = _image_paths(dataset, image_col)
    first: dict[Any, int] = {}
    data = CaptionSet()
    for row, texts in enumerate(dataset[caption_col]):
        where = f"{label} row {row}"
        key = paths[row] if paths else row
        captions = _normalized(_caption_texts(texts), where, "the image")
        if key in first:
            data.captions[first[key]].extend(captions)
            continue
        first[key] = len(data)
        data.add(HFImage(dataset, image_col, row), Path(paths[row]).name if paths else where,
                 captions)
    return data


def read_source(source: Source) -> dict[str | None, CaptionSet]:
    """The splits of a folder or ``hf:`` source (the built-in scenes are made in data.py)."""
    if source.kind == "folder":
        return read_folder(source.path)
    if source.kind == "hf":
        return {split: from_hf(ds, f"{source} {split}") for split, ds in hf_splits(source).items()}
    raise SeqkitError(f"cannot read captions from {source}")
