"""Image front-ends: a torchvision classifier or a Hugging Face vision model, cut before pooling
so that it gives a grid of feature vectors for the decoder to attend over.

A torchvision backbone is split into *stages*, its top-level children up to the pooling layer
(``conv1 ... layer4`` for a ResNet, ``features.0 ... features.12`` for a MobileNet). The config
can cut it after an earlier stage (a finer grid) and freeze the stages before a chosen one.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seqkit.errors import SeqkitError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_HEADS = ("avgpool", "fc", "classifier", "head", "heads", "global_pool", "dropout")
_NO_GRID = ("vit_", "swin_", "maxvit")  # transformers: use a Hugging Face model instead
Stages = list[tuple[str, nn.Module]]


@dataclass
class Backbone:
    """A pretrained or fresh image model, taken apart for the front-end."""

    body: Stages  # run in this order: pixels (B, 3, H, W) -> grid (B, C, h, w)
    parts: Stages  # what finetune_from and cut_after name (the body's stages, for torchvision)
    mean: tuple  # per-channel mean of the pixels (0..1) the model expects
    std: tuple  # per-channel standard deviation
    cuttable: bool = True  # whether the body may be cut after a part


def is_hf(backbone: str) -> bool:
    """Whether ``backbone`` names a Hugging Face model: ``hf:ID`` or a local model folder."""
    return backbone.startswith("hf:") or (Path(backbone) / "config.json").is_file()


def hf_location(backbone: str) -> str:
    """The hub id or folder of a Hugging Face backbone name."""
    return backbone[3:] if backbone.startswith("hf:") else backbone


def stages_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
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


def torchvision_backbone(name: str, pretrained: bool) -> Backbone:
    """The stages of the torchvision model ``name``; with ``pretrained``, its
    default weights (downloaded once into torch's hub cache) or a clear error."""
    from torchvision import models

    known = models.list_models(module=models)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SeqkitError(f"unknown backbone '{name}'.{hint} Use a torchvision classification "
                          "model name (e.g. resnet18, mobilenet_v3_small) or hf:ID")
    if name.startswith(_NO_GRID):
        raise SeqkitError(f"backbone '{name}' is a transformer without a convolutional grid; "
                          "use a convolutional model, or a Hugging Face model with hf:ID")
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


class HFGrid(nn.Module):
    """A Hugging Face vision model as a grid: pixels ``(B, 3, H, W)`` -> ``(B, C, h, w)``.

    Convolutional models give a grid already; transformers give tokens ``(B, N, C)``, laid out
    on a square grid (a leading class token is dropped) or, failing that, on one row.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` normalised pixels -> ``(B, C, h, w)`` features."""
        hidden = self.model(pixel_values=pixels).last_hidden_state
        if hidden.dim() == 4:
            return hidden
        count = hidden.size(1)
        if math.isqrt(count) ** 2 != count and math.isqrt(count - 1) ** 2 == count - 1:
            hidden, count = hidden[:, 1:], count - 1
        side = math.isqrt(count)
        grid = (side, side) if side * side == count else (1, count)
        return hidden.transpose(1, 2).reshape(hidden.size(0), hidden.size(2), *grid)


def hf_config(backbone: str):
    """The ``transformers`` config of a Hugging Face backbone (read once, kept with the run)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(hf_location(backbone))
    except (OSError, ValueError) as err:
        raise SeqkitError(f"cannot load the Hugging Face model config of '{backbone}': "
                          f"{err}") from err


def hf_backbone(backbone: str, config, load_weights: bool) -> Backbone:
    """A Hugging Face vision model: its weights when
    ``load_weights`` (a new run), else only its architecture from ``config`` (a saved run)."""
    from transformers import AutoImageProcessor, AutoModel

    where = hf_location(backbone)
    try:
        if load_weights:
            model = AutoModel.from_pretrained(where, dtype=torch.float32)
        else:
            model = AutoModel.from_config(config)
    except (OSError, ValueError) as err:
        raise SeqkitError(f"cannot load the Hugging Face vision model '{backbone}': {err}") from err
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if load_weights:
        try:
            processor = AutoImageProcessor.from_pretrained(where)
            mean = tuple(getattr(processor, "image_mean", None) or mean)
            std = tuple(getattr(processor, "image_std", None) or std)
        except (OSError, ValueError):
            pass  # no preprocessor_config.json: ImageNet statistics
    model = model.float()
    return Backbone([("model", HFGrid(model))], list(model.named_children()), mean, std,
                    cuttable=False)
