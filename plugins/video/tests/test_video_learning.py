"""A tiny tagger learns a tiny generated set: frame accuracy far above the majority tag."""
from __future__ import annotations

import collections
import json

from seqkit.data import Source
from seqkit.jobs import train
from seqkit_video import task


def test_tiny_tagger_learns_the_clips(tmp_path, tiny_config):
    config = tiny_config(
        clips={"train_clips": 150, "valid_clips": 21, "test_clips": 0, "kinds": 2,
               "colours": 3, "min_frames": 19, "max_frames": 27, "max_bounces": 1},
        frame_size=24, feature_size=24, hidden_size=24,
        colour_shuffle=0.0,  # validation shows seen colours; the shuffle slows a 30 s run
        train_cfg={"batch_size": 8, "epochs": 7, "lr": 6e-3, "warmup_steps": 10,
                   "schedule": "cosine", "log_every": 20})
    metrics = train(task, config, Source("builtin"), tmp_path / "run", quiet=True)
    data = task.prepare(config, Source("builtin"), None)
    tags = collections.Counter(t for e in data.split("valid").examples
                               for s, end, t in e[1].segments for _ in range(int(end - s)))
    majority = max(tags.values()) / sum(tags.values())
    assert majority < 0.5
    assert metrics["valid_frame_accuracy"] > 0.7, json.dumps(metrics)
    assert metrics["valid_f1_10"] > 50, json.dumps(metrics)
