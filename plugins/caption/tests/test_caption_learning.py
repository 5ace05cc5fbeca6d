"""A tiny captioner learns the scene grammar, generalises to held-out compositions and beats
the nearest-neighbour baseline; a saved run reloads to the same captions; the CLI works."""
from __future__ import annotations

import json

import pytest
import torch

import seqkit
from seqkit.cli import main
from seqkit.data import Source
from seqkit.jobs import evaluate_run
from seqkit.rundir import save_run
from seqkit_caption import caption_image, caption_images, example_scenes

KEYS = {"loss", "bleu1", "bleu2", "bleu3", "bleu4", "cider", "baseline_bleu4", "baseline_cider",
        "exact_match"}


@pytest.fixture(scope="module")
def run(scene_run):
    return seqkit.load(scene_run[0])


def test_learns_held_out_compositions(scene_run):
    out, metrics, seconds = scene_run
    print(f"trained in {seconds:.1f} s: " + json.dumps(
        {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)}))
    assert metrics["valid_exact_match"] >= 0.95  # compositions seen in training: 1.0
    # Every test scene holds a pair of shapes never seen side by side in training. Measured on
    # 2026-12-02: 0.90 with the fused-RNN decoder, 0.85 with the cell stack (same initial
    # weights; the runs part at float rounding), 0.99 when first written; the baseline gets 0.
    assert metrics["test_exact_match"] >= 0.8
    assert metrics["test_bleu4"] > metrics["test_baseline_bleu4"]
    assert metrics["test_cider"] > metrics["test_baseline_cider"]
    assert metrics["test_baseline_exact_match"] == 0.0  # no training caption can be right


def test_the_default_encoder_and_training_settings_learn_shape_kinds(tmp_path):
    """The caption task's own defaults (``scene_cnn``, lr 5e-3, no dropout or attention
    penalty; only the decoder is smaller) on two-shape scenes of circles and squares in three
    colours: the kind is what ResNet-18 and the old ``scene_cnn`` learnt late."""
    import dataclasses

    from seqkit.jobs import train
    from seqkit_caption import CaptionConfig, SceneConfig, task

    scenes = SceneConfig(train_images=2000, valid_images=61, test_images=101, min_shapes=2,
                         max_shapes=2, colours=3, kinds=2)
    config = CaptionConfig(feature_size=64, embed_size=32, hidden_size=128, attention_size=64,
                           baseline_images=200, scenes=scenes)
    config.train = dataclasses.replace(config.train, epochs=10, warmup_steps=20, threads=1)
    metrics = train(task, config, Source("builtin"), tmp_path / "run", quiet=True)
    # measured 2026-12-02 (630 steps, ~50 s): valid 1.0 for seeds 1, 2 and 1234; test 0.97,
    # 1.0 and 0.87 (this seed, 1234)
    assert metrics["valid_exact_match"] >= 0.95
    assert metrics["test_exact_match"] >= 0.75
    assert metrics["test_bleu4"] > metrics["test_baseline_bleu4"]


def test_reload_gives_identical_captions(run, tmp_path):
    images = [image for image, _ in example_scenes(5, config=run.config.scenes)]
    first = caption_images(run, images, beam=3)
    save_run(tmp_path, run.task, run.config, run.model, run.assets)
    again = seqkit.load(tmp_path)
    assert caption_images(again, images, beam=3) == first
    one, other = caption_image(run, images[0]), caption_image(again, images[0])
    assert one.words == other.words and torch.equal(one.attention, other.attention)


def test_caption_image_gives_words_and_attention_maps(run):
    image, _ = example_scenes(1, config=run.config.scenes)[0]
    result = caption_image(run, image, beam=2)
    assert result.words and result.text == " ".join(result.words)
    assert result.attention.shape == (len(result.words), *run.model.grid)
    sums = result.attention.flatten(1).sum(1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4)
    assert len(result.overlays(image)) == len(result.words)


def test_predict_command(scene_run, run, tmp_path, capsys):
    image, _ = example_scenes(1, split="train", config=run.config.scenes)[0]
    image.save(tmp_path / "scene.png")
    assert main(["predict", str(scene_run[0]), "--image", str(tmp_path / "scene.png"),
                 "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip() == caption_image(run, image, beam=3).text
    assert main(["predict", str(scene_run[0])]) == 2
    assert "--image PATH" in capsys.readouterr().err
    assert main(["predict", str(scene_run[0]), "--image", str(tmp_path / "no.png")]) == 2
    assert "no such image file" in capsys.readouterr().err


def test_predict_examples_shows_captions_beside_descriptions(scene_run, run, capsys):
    assert main(["predict", str(scene_run[0]), "--examples", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    scenes = example_scenes(4, config=run.config.scenes)
    said = caption_images(run, [image for image, _ in scenes])
    right = sum(s == truth for s, (_, truth) in zip(said, scenes))
    assert lines[0] == f"{right} of 4 held-out scenes captioned exactly:"
    assert [line.split("model: ")[1] for line in lines[1::2]] == said
    assert [line.split("scene: ")[1] for line in lines[2::2]] == [t for _, t in scenes]
    assert main(["predict", str(scene_run[0]), "--examples", "2", "--image", "x.png"]) == 2
    assert "not both" in capsys.readouterr().err


def test_eval_command_reports_the_baseline(scene_run, capsys):
    assert main(["eval", str(scene_run[0])]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert KEYS <= set(metrics)


def test_eval_on_other_data_uses_the_stored_bank(scene_run, image_folder):
    metrics = evaluate_run(scene_run[0], Source("folder", path=image_folder), "valid")
    assert {"baseline_bleu4", "baseline_cider", "bleu4", "cider"} <= set(metrics)
    assert "exact_match" not in metrics
