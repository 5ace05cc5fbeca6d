"""seqkit predict on a video file and a built-in clip; streamed inference equals whole-clip."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from seqkit.cli import _parser, _task_config, main
from seqkit.rundir import Run, load
from seqkit_video import read_video, tag_frames, tag_video, task, write_video
from seqkit_video.data import VideoAssets
from seqkit_video.inference import PredictOptions, predict
from seqkit_video.model import build_tagger


def test_predict_prints_segments_and_a_json_line(tiny_run, clip_video, capsys):
    path, frames = clip_video
    assert main(["predict", str(tiny_run), "--video", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["frames"] == frames and summary["frames_per_s"] > 0
    assert len(lines) == len(summary["segments"]) + 1
    for line, segment in zip(lines, summary["segments"]):
        assert line.split(None, 2) == [f"{segment['start']:.2f}", f"{segment['end']:.2f}",
                                       segment["tag"]]
        assert 0 <= segment["start"] < segment["end"] <= frames / 25 + 1e-6
    tags = load(tiny_run).assets.tags
    assert {s["tag"] for s in summary["segments"]} <= set(tags[1:])


def test_predict_a_builtin_clip_and_bad_input(tiny_run, tmp_path, capsys):
    assert main(["predict", str(tiny_run), "--clip", "2", "--smoothing", "50"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(summary["segments"]) <= 2  # a huge switch penalty leaves one tag (or two)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["predict", str(tiny_run), "--video", str(bad)]) == 2
    assert "bad.mp4 is not a readable video" in capsys.readouterr().err
    assert main(["predict", str(tiny_run)]) == 2
    assert "--video FILE" in capsys.readouterr().err


@pytest.mark.parametrize("mirror", [False, True])
def test_streamed_inference_equals_the_whole_clip(tiny_config, tmp_path, mirror):
    config = tiny_config(bidirectional=False, frame_size=32, mirror=mirror)
    assets = VideoAssets(["empty", "a", "b", "c"])
    torch.manual_seed(0)
    run = Run(task, config, build_tagger(config, 4).eval(), assets, tmp_path)
    frames = np.random.default_rng(0).integers(0, 256, (29, 32, 32, 3), dtype=np.uint8)
    path = write_video(tmp_path / "noise.mp4", frames)
    streamed = tag_video(run, path, chunk=6)  # decoded and tagged 6 frames at a time
    whole = tag_frames(run, read_video(path, 32)[0])
    assert torch.allclose(streamed.probs, whole.probs, atol=1e-5)
    assert streamed.segments() == whole.segments()


def test_segments_of_a_tagging(tiny_config, tmp_path):
    from seqkit_video.inference import Tagging

    tagging = Tagging(torch.zeros(6, 3), torch.tensor([0, 1, 1, 2, 0, 2]),
                      np.arange(6) * 0.5, ["empty", "run", "jump"], 10.0)
    assert tagging.segments() == [{"start": 0.5, "end": 1.5, "tag": "run"},
                                  {"start": 1.5, "end": 2.0, "tag": "jump"},
                                  {"start": 2.5, "end": 3.0, "tag": "jump"}]
    assert tagging.segments(background=True)[0] == {"start": 0.0, "end": 0.5, "tag": "empty"}
    multi = dataclasses.replace(tagging, on=torch.tensor([[1, 0, 0], [0, 1, 1], [0, 1, 0],
                                                          [1, 0, 0], [1, 0, 0], [1, 0, 0]]))
    assert multi.segments() == [{"start": 0.5, "end": 1.0, "tag": "jump"},
                                {"start": 0.5, "end": 1.5, "tag": "run"}]


def test_a_run_saved_before_motion_and_keypoints_existed_still_loads(tiny_config, tmp_path):
    from seqkit.rundir import CONFIG, save_run

    config = tiny_config(motion=False, keypoints=False, mirror=False)
    model = build_tagger(config, 4).eval()
    save_run(tmp_path, task, config, model, VideoAssets(["empty", "a", "b", "c"]))
    saved = json.loads((tmp_path / CONFIG).read_text())
    for setting in ("motion", "keypoints", "mirror"):  # as such a run wrote it
        del saved["config"][setting]
    (tmp_path / CONFIG).write_text(json.dumps(saved))
    run = load(tmp_path)
    assert not run.config.motion and not run.config.keypoints and not run.model.mirror
    frames = torch.randint(0, 256, (1, 5, 3, 24, 24), dtype=torch.uint8)
    assert torch.equal(run.model(frames, torch.tensor([5]))[0], model(frames, torch.tensor([5]))[0])
    # a resume reads the run's config the same way (only the options given change it)
    args, rest = _parser().parse_known_args(["train", "--task", "video", "--out", str(tmp_path),
                                             "--resume", "--hidden-size", "10"])
    resumed = _task_config(task, args, rest)
    assert not resumed.motion and not resumed.keypoints and not resumed.mirror


def test_mirror_at_predict_time_tags_a_clip_and_its_mirror_image_alike(tiny_run, capsys):
    run = load(tiny_run)
    assert run.model.mirror  # the default
    run.model.mirror = False
    frames = np.random.default_rng(1).integers(0, 256, (12, 24, 24, 3), dtype=np.uint8)
    flipped = np.ascontiguousarray(frames[:, :, ::-1])
    plain = [tag_frames(run, f).probs for f in (frames, flipped)]
    assert not torch.allclose(plain[0], plain[1], atol=1e-4)
    run.model.mirror = True
    both = [tag_frames(run, f).probs for f in (frames, flipped)]
    assert torch.allclose(both[0], both[1], atol=1e-5)
    assert torch.allclose(both[0], (plain[0] + plain[1]) / 2, atol=1e-5)
    outputs = {}
    for mirror in ("on", "off", "run"):
        assert main(["predict", str(tiny_run), "--clip", "1", "--mirror", mirror]) == 0
        outputs[mirror] = json.loads(capsys.readouterr().out.splitlines()[-1])["segments"]
    assert outputs["on"] == outputs["run"]  # the tiny run was trained with the default
    for mirror in ("on", "off"):
        predict(run, PredictOptions(clip=1, mirror=mirror))
        assert run.model.mirror == (mirror == "on")
    assert main(["predict", str(tiny_run), "--clip", "1", "--mirror", "sideways"]) == 2
