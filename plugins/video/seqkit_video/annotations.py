"""Label files: frame-folder annotations and video label CSVs, read into segments.

A *segment* is ``(start, end, tag)``, half-open, in the example's unit: frame numbers from 0,
or seconds. Two formats:

- Frame folders: ``annotations.txt`` lines ``path start_frame end_frame label``, frames numbered
  from 1, both ends included (the layout of mmaction2's raw frames and of
  ``../shared/data/video-frames-demo``). Several lines may name one folder, one per segment.
- Video files: a CSV whose header says the unit: ``video,start_frame,end_frame,label`` (frames
  from 1, ends included, as above), ``video,start_s,end_s,label`` (seconds, end excluded), or
  ``video,frame,label`` (one line per frame, from 1).

Overlapping segments (single-label), ends before starts, and segments that run past the clip
are errors that name the file and line.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from seqkit.errors import SeqkitError

Segment = tuple[float, float, str]
CSV_HEADERS = {("video", "start_frame", "end_frame", "label"): "frame",
               ("video", "start_s", "end_s", "label"): "second",
               ("video", "frame", "label"): "frame"}


@dataclass
class Labelled:
    """One annotated clip: where it is, its segments, and where each segment was written."""

    path: Path  # frame folder or video file
    unit: str  # "frame" or "second"
    segments: list[Segment]
    lines: list[str]  # "file:line" of each segment, for messages
    end: float = 0.0  # the latest end so far (a segment starting there overlaps nothing)


def _add(found: dict[Path, Labelled], path: Path, unit: str, segment: Segment, where: str,
         multilabel: bool) -> None:
    start, end, tag = segment
    if end <= start or start < 0:
        raise SeqkitError(f"{where}: the segment {start:g}-{end:g} is empty or starts before 0")
    entry = found.setdefault(path, Labelled(path, unit, [], []))
    if start < entry.end:  # may overlap an earlier segment
        for (s, e, t), line in zip(entry.segments, entry.lines):
            if start < e and s < end and (not multilabel or t == tag):
                raise SeqkitError(f"{where}: this segment ({tag}) overlaps the one at {line} "
                                  f"({t}); a frame has one tag (or set multilabel for several)")
    entry.segments.append(segment)
    entry.lines.append(where)
    entry.end = max(entry.end, end)


def read_annotation_file(path: Path, multilabel: bool = False) -> list[Labelled]:
    """Parse ``path start_frame end_frame label`` lines (paths relative to the file's folder)."""
    found: dict[Path, Labelled] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SeqkitError(f"cannot read {path} as text: {err}") from err
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where, parts = f"{path}:{number}", line.split()
        if len(parts) < 4:
            raise SeqkitError(f"{where}: expected 'path start_frame end_frame label', got {line!r}")
        try:
            first, last = int(parts[1]), int(parts[2])
        except ValueError:
            raise SeqkitError(f"{where}: start and end frames must be whole numbers: {line!r}") from None
        if first < 1:
            raise SeqkitError(f"{where}: frames are numbered from 1, not {first}")
        _add(found, path.parent / parts[0], "frame", (first - 1, last, " ".join(parts[3:])),
             where, multilabel)
    if not found:
        raise SeqkitError(f"{path} holds no annotation line ('path start_frame end_frame label')")
    return list(found.values())


def read_label_csv(path: Path, multilabel: bool = False) -> list[Labelled]:
    """Parse a label CSV (see the module docstring); video paths are relative to the CSV."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SeqkitError(f"cannot read {path} as CSV: {err}") from err
    header = tuple(h.strip().lower() for h in rows[0]) if rows else ()
    if header not in CSV_HEADERS:
        raise SeqkitError(f"{path}: the header must be one of "
                          f"{'; '.join(','.join(h) for h in CSV_HEADERS)} (it says the unit); "
                          f"got {','.join(header) or 'nothing'}")
    unit, found = CSV_HEADERS[header], {}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{number}"
        if len(row) != len(header):
            raise SeqkitError(f"{where}: expected {len(header)} fields ({','.join(header)})")
        video, label = path.parent / row[0].strip(), row[-1].strip()
        try:
            numbers = [float(cell) for cell in row[1:-1]]
        except ValueError:
            raise SeqkitError(f"{where}: start and end must be numbers: {row}") from None
        if header[1] == "frame":
            numbers = [numbers[0], numbers[0]]
        if unit == "frame":
            if numbers[0] < 1 or any(n != int(n) for n in numbers):
                raise SeqkitError(f"{where}: frames are whole numbers from 1")
            numbers = [numbers[0] - 1, numbers[1]]
        _add(found, video, unit, (numbers[0], numbers[1], label), where, multilabel)
    if not found:
        raise SeqkitError(f"{path} holds no label line")
    return list(found.values())


def check_extent(entry: Labelled, frames: int, seconds: float) -> None:
    """Fail when a segment runs past the clip (``frames`` long, or ``seconds`` for seconds)."""
    extent = frames if entry.unit == "frame" else seconds
    slack = 1e-6 if entry.unit == "frame" else 0.5 * seconds / max(frames, 1) + 1e-3
    for (start, end, tag), where in zip(entry.segments, entry.lines):
        if end > extent + slack:
            what = f"{frames} frames" if entry.unit == "frame" else f"{seconds:.2f} s"
            raise SeqkitError(f"{where}: the segment ({tag}) ends at {end:g}, past the end of "
                              f"{entry.path.name} ({what})")
