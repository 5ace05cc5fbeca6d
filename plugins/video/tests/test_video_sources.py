"""Labelled clips from annotation files, label CSVs and the shared frame-folder set."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit_video import task, write_video
from seqkit_video.annotations import read_annotation_file, read_label_csv
from seqkit_video.data import decode, frame_targets


def _frame_folder(root, name: str, count: int) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", (40, 30), (10 * i, 80, 120)).save(folder / f"img_{i + 1:05d}.jpg")


def test_shared_frame_folders(shared_data, tiny_config):
    folder = shared_data / "video-frames-demo"
    entries = read_annotation_file(folder / "annotations.txt")
    assert [(e.path.name, e.segments) for e in entries][:3] == [
        ("0001", [(0, 17, "0")]), ("0002", [(0, 18, "0")]), ("0001", [(0, 15, "1")])]
    config = tiny_config(background="none", valid_fraction=0.25, test_fraction=0.25)
    data = task.prepare(config, Source("folder", path=folder), None)
    assert data.assets.tags == ["none", "0", "1"]
    assert {name: len(b.examples) for name, b in data.splits.items()} == {
        "valid": 1, "test": 1, "train": 2}
    batch = next(iter(data.split("train").epoch(0)))
    assert batch["frames"].shape[2:] == (3, 24, 24)
    assert sorted(batch["lengths"].tolist()) in ([15, 17], [15, 18], [17, 18], [15, 15])
    whole = task.prepare(config, Source("folder", path=folder, whole=True), data.assets)
    assert list(whole.splits) == ["whole"] and len(whole.split("whole").examples) == 4


def test_frames_outside_every_segment_get_the_background_tag(tmp_path, tiny_config):
    _frame_folder(tmp_path, "a", 9)
    (tmp_path / "train.txt").write_text("a 2 4 wave\na 6 7 jump\n")
    config = tiny_config()
    data = task.prepare(config, Source("folder", path=tmp_path), None)
    assert data.assets.tags == ["empty", "jump", "wave"]
    example = data.split("train").examples[0][1]
    targets = frame_targets(example, decode(example, config)[1], data.assets)
    assert targets.tolist() == [0, 2, 2, 2, 0, 1, 1, 0, 0]


@pytest.mark.parametrize("lines,message", [
    ("a 2 5 wave\na 4 6 jump\n", r"annotations.txt:2: this segment \(jump\) overlaps the one "
                                 r"at .*annotations.txt:1 \(wave\)"),
    ("a 2 12 wave\n", r"annotations.txt:1: the segment \(wave\) ends at 12, past the end of a "
                      r"\(9 frames\)"),
    ("a 0 3 wave\n", r"annotations.txt:1: frames are numbered from 1"),
    ("a 5 3 wave\n", r"annotations.txt:1: the segment 4-3 is empty"),
    ("a two 3 wave\n", r"annotations.txt:1: start and end frames must be whole numbers"),
    ("a 3\n", r"annotations.txt:1: expected 'path start_frame end_frame label'"),
    ("missing 1 3 wave\n", r"missing: no such video file"),
])
def test_bad_annotation_lines_name_file_and_line(tmp_path, tiny_config, lines, message):
    _frame_folder(tmp_path, "a", 9)
    (tmp_path / "annotations.txt").write_text(lines)
    with pytest.raises(SeqkitError, match=message):
        task.prepare(tiny_config(), Source("folder", path=tmp_path), None)


def test_multilabel_annotations_may_overlap(tmp_path, tiny_config):
    _frame_folder(tmp_path, "a", 6)
    (tmp_path / "annotations.txt").write_text("a 1 4 wave\na 3 6 jump\n")
    config = tiny_config(multilabel=True, valid_fraction=0, test_fraction=0)
    data = task.prepare(config, Source("folder", path=tmp_path), None)
    example = data.split("train").examples[0][1]
    targets = frame_targets(example, np.arange(6), data.assets)
    assert targets.tolist() == [[0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1], [0, 1, 0],
                                [0, 1, 0]]


def _videos(tmp_path, count: int = 3, frames: int = 25):
    for i in range(count):
        pixels = np.full((frames, 32, 32, 3), 40 * i, dtype=np.uint8)
        write_video(tmp_path / f"v{i}.mp4", pixels, fps=25)


def test_csv_in_seconds(tmp_path, tiny_config):
    _videos(tmp_path)
    (tmp_path / "labels.csv").write_text(
        "video,start_s,end_s,label\n" + "".join(f"v{i}.mp4,0.2,0.6,wave\n" for i in range(3)))
    config = tiny_config(valid_fraction=0, test_fraction=0)
    data = task.prepare(config, Source("folder", path=tmp_path), None)
    example = data.split("train").examples[0][1]
    targets = frame_targets(example, decode(example, config)[1], data.assets)
    assert targets.tolist() == [0] * 5 + [1] * 10 + [0] * 10  # frames at 0.20 .. 0.56 s


def test_csv_per_frame_and_in_frames_agree(tmp_path, tiny_config):
    _videos(tmp_path, 1, 9)
    per_frame = tmp_path / "a.csv"
    per_frame.write_text("video,frame,label\n" + "".join(
        f"v0.mp4,{f},{'jump' if 3 <= f <= 5 else 'rest'}\n" for f in range(1, 10)))
    ranges = tmp_path / "b.csv"
    ranges.write_text("video,start_frame,end_frame,label\nv0.mp4,1,2,rest\nv0.mp4,3,5,jump\n"
                      "v0.mp4,6,9,rest\n")
    merged = [(s, e, t) for s, e, t in sorted(read_label_csv(per_frame)[0].segments)]
    assert merged[2:5] == [(2, 3, "jump"), (3, 4, "jump"), (4, 5, "jump")]
    assert read_label_csv(ranges)[0].segments == [(0, 2, "rest"), (2, 5, "jump"), (5, 9, "rest")]


@pytest.mark.parametrize("text,message", [
    ("video,start,end,label\nv0.mp4,0,1,a\n", "the header must be one of"),
    ("video,start_s,end_s,label\nv0.mp4,0,9,a\n", r"labels.csv:2: the segment \(a\) ends at 9, "
                                                  r"past the end of v0.mp4 \(1.00 s\)"),
    ("video,start_s,end_s,label\nv0.mp4,0,0.5,a\nv0.mp4,0.4,0.8,b\n",
     r"labels.csv:3: this segment \(b\) overlaps"),
    ("video,start_s,end_s,label\nv0.mp4,zero,1,a\n", r"labels.csv:2: start and end must be"),
])
def test_bad_csv(tmp_path, tiny_config, text, message):
    _videos(tmp_path, 1)
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(SeqkitError, match=message):
        task.prepare(tiny_config(), Source("folder", path=tmp_path), None)


def test_hf_rows_with_frames_and_videos(tmp_path, tiny_config, monkeypatch):
    datasets = pytest.importorskip("datasets")
    _videos(tmp_path, 1, 6)
    frames = [Image.new("RGB", (20, 20), (i * 30, 0, 0)) for i in range(5)]
    train = datasets.Dataset.from_dict({"frames": [frames], "labels": [[0, 0, 1, 1, 0]]},
                                       features=datasets.Features({
                                           "frames": datasets.Sequence(datasets.Image()),
                                           "labels": datasets.Sequence(
                                               datasets.ClassLabel(names=["idle", "run"]))}))
    valid = datasets.Dataset.from_dict({"video": [str(tmp_path / "v0.mp4")],
                                        "labels": [["idle", "idle", "run", "idle", "idle",
                                                    "idle"]]})
    monkeypatch.setattr("seqkit_video.sources.hf_splits", lambda source: {
        "train": train, "valid": valid})
    config = tiny_config(background="idle")
    data = task.prepare(config, Source("hf", name="someone/clips"), None)
    assert data.assets.tags == ["idle", "run"]
    batch = next(iter(data.split("train").epoch(0)))
    assert batch["targets"].tolist() == [[0, 0, 1, 1, 0]]
    batch = next(iter(data.split("valid").epoch(0)))
    assert batch["frames"].shape[:2] == (1, 6) and batch["targets"][0, 2] == 1


def test_streamed_batches_decode_a_video_piece_by_piece(tmp_path, tiny_config, monkeypatch):
    _videos(tmp_path, 2, 23)
    (tmp_path / "labels.csv").write_text(
        "video,start_frame,end_frame,label\nv0.mp4,3,9,wave\nv1.mp4,1,23,jump\n")
    config = tiny_config(bidirectional=False, stream=True, valid_fraction=0, test_fraction=0,
                         train_cfg={"bptt": 5, "batch_size": 2})
    data = task.prepare(config, Source("folder", path=tmp_path), None)
    pieces = []
    import seqkit_video.data as video_data
    real = video_data.iter_frames
    monkeypatch.setattr(video_data, "iter_frames", lambda *a, **k: (
        pieces.append(k["chunk"]) or real(*a, **k)))
    rows: dict[int, list] = {}
    for batch in data.split("train").epoch(0):
        for lane in range(2):
            if batch["index"][lane] >= 0:
                count = int(batch["lengths"][lane])
                rows.setdefault(int(batch["index"][lane]), []).append(
                    (batch["frames"][lane, :count], batch["targets"][lane, :count]))
    assert pieces == [5, 5]  # each video opened once, decoded 5 frames at a time
    for number, chunks in rows.items():
        whole = video_data.Collate(config, data.assets, 0)([data.split("train").examples[number]])
        assert torch.equal(torch.cat([f for f, _ in chunks]), whole["frames"][0])
        assert torch.equal(torch.cat([t for _, t in chunks]), whole["targets"][0])
