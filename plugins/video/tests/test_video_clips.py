"""The built-in clips: deterministic, tagged as they move, and a held-out composition in test."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from seqkit_video.clips import COLOURS, EVENTS, KINDS, held_out_colour, make_clip, tag_names
from seqkit_video.config import ClipConfig

CONFIG = ClipConfig(min_frames=31, max_frames=47)


def test_same_seed_same_clip_and_pixels():
    a, b = make_clip(CONFIG, "train", 5), make_clip(CONFIG, "train", 5)
    assert a.tags == b.tags
    assert np.array_equal(a.render(21), b.render(21))
    assert make_clip(CONFIG, "train", 6).tags != a.tags


@pytest.mark.parametrize("side", [17, 32, 45])
def test_render_shape_at_odd_sizes(side):
    clip = make_clip(CONFIG, "valid", 2)
    video = clip.render(side)
    assert video.shape == (clip.frames, side, side, 3) and video.dtype == np.uint8
    assert CONFIG.min_frames <= clip.frames <= CONFIG.max_frames


def test_single_label_clips_have_one_tag_a_frame_from_the_vocabulary():
    names = set(tag_names(CONFIG))
    assert len(names) == 1 + CONFIG.kinds * len(EVENTS)
    for i in range(20):
        clip = make_clip(CONFIG, "train", i)
        assert all(len(tags) == 1 and tags[0] in names for tags in clip.tags)


def test_a_shape_enters_before_it_moves_and_exits_last():
    events = []
    for i in range(30):
        clip = make_clip(CONFIG, "train", i)
        for track in clip.tracks:
            seen = [e for e in track.events if e]
            events += seen
            if seen and "exit" in seen:
                assert seen[0] == "enter" and seen[-1] == "exit"
                inside = seen[seen.index("move"):] if "move" in seen else []
                assert "enter" not in inside
    assert {"enter", "move", "bounce", "exit"} <= set(events)


def test_empty_frames_show_only_the_background():
    clip = make_clip(dataclasses.replace(CONFIG, grey=0.0), "train", 1)  # in colour
    video = clip.render(32).astype(int)
    empty = [t for t, tags in enumerate(clip.tags) if tags == ["empty"]]
    busy = [t for t, tags in enumerate(clip.tags) if tags != ["empty"]]
    assert empty and busy
    assert all(np.abs(video[t] - video[empty[0]]).max() == 0 for t in empty)
    assert all(np.abs(video[t] - video[empty[0]]).max() > 40 for t in busy)  # even an edge


def test_test_clips_hold_a_composition_training_never_shows():
    held = {(KINDS[k], held_out_colour(k, CONFIG)) for k in range(CONFIG.kinds)}
    assert len({colour for _, colour in held}) == CONFIG.kinds  # each kind holds out its own
    for split in ("train", "valid"):
        for i in range(60):
            pairs = {(KINDS[t.kind], t.colour) for t in make_clip(CONFIG, split, i).tracks}
            assert not pairs & held, f"{split} clip {i} shows a held-out pair"
    for i in range(30):
        pairs = {(KINDS[t.kind], t.colour) for t in make_clip(CONFIG, "test", i).tracks}
        assert pairs & held, f"test clip {i} shows no held-out pair"
    assert all(colour in COLOURS for _, colour in held)


def test_overlapping_shapes_are_of_different_kinds():
    config = ClipConfig(overlap=True, min_frames=61, max_frames=61)
    shared = 0
    for i in range(20):
        tags = make_clip(config, "train", i).tags
        shared += sum(len(t) > 1 for t in tags)
        assert all(len({tag.split()[0] for tag in t}) == len(t) for t in tags)
    assert shared > 0, "no two shapes ever shared the screen"


def test_grey_clips_are_training_clips_in_the_share_asked_for():
    config = dataclasses.replace(CONFIG, grey=0.5)
    train = [make_clip(config, "train", i) for i in range(200)]
    assert 0.4 <= sum(clip.grey for clip in train) / len(train) <= 0.6
    video = next(clip for clip in train if clip.grey).render(16)
    assert (video[..., 0] == video[..., 1]).all() and (video[..., 1] == video[..., 2]).all()
    assert not any(make_clip(config, split, i).grey for split in ("valid", "test")
                   for i in range(60)), "a clip that scores the model is grey"
    assert not any(make_clip(dataclasses.replace(config, grey=0.0), "train", i).grey
                   for i in range(60))
