"""Hugging Face vision models as backbones: ``hf:ID`` (the hub) or a local model folder.

Every load passes ``trust_remote_code=False``: a ``config.json`` whose ``auto_map`` points at
Python files (in a model folder, or in a run folder's ``encoder/``) never gets that code run, nor
a prompt asking to run it. A model type that transformers does not ship is a clear error.
transformers is imported only inside the functions that need it.
"""
from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from torch import nn

from seqkit.data import OFFLINE_HINT, hub_access
from seqkit.errors import SeqkitError
from seqkit.vision.backbones import IMAGENET_MEAN, IMAGENET_STD, Backbone

NO_REMOTE_CODE = {"trust_remote_code": False}  # passed to every transformers loader


def is_hf(backbone: str) -> bool:
    """Whether ``backbone`` names a Hugging Face model: ``hf:ID`` or a local model folder."""
    return backbone.startswith("hf:") or (Path(backbone) / "config.json").is_file()


def hf_location(backbone: str) -> str:
    """The hub id or folder of a Hugging Face backbone name."""
    return backbone[3:] if backbone.startswith("hf:") else backbone


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


@contextmanager
def _loading(what: str, backbone: str):
    """Around a ``from_pretrained``: a hub id loads offline where the Hub cannot be reached
    (``seqkit.data.hub_access``: cached files load, the rest fails at once), and a failure is
    a clear ``SeqkitError``; transformers' advice to trust remote code is replaced."""
    with hub_access() if str(backbone).startswith("hf:") else nullcontext(False) as offline:
        try:
            yield
        except (OSError, ValueError, KeyError) as err:
            if "trust_remote_code" in str(err):
                raise SeqkitError(f"cannot load the Hugging Face {what} of '{backbone}': it "
                                  "needs Python code shipped with the model (auto_map), and "
                                  "seqkit never runs such code; use a model whose type "
                                  "transformers provides") from err
            why = f" ({OFFLINE_HINT})" if offline else ""
            raise SeqkitError(f"cannot load the Hugging Face {what} of '{backbone}': "
                              f"{str(err).strip().splitlines()[0] if str(err).strip() else err!r}"
                              f"{why}") from err


def hf_config(backbone: str):
    """The ``transformers`` config of a Hugging Face backbone name or config folder (read once,
    kept with a run), without running any code the folder ships."""
    from transformers import AutoConfig

    with _loading("model config", backbone):
        return AutoConfig.from_pretrained(hf_location(str(backbone)), **NO_REMOTE_CODE)


def _statistics(where: str) -> tuple[tuple, tuple]:
    """The pixel mean and std of the model's image processor; ImageNet's where it has none."""
    from transformers import AutoImageProcessor

    try:
        with hub_access() if not Path(where).is_dir() else nullcontext():
            processor = AutoImageProcessor.from_pretrained(where, **NO_REMOTE_CODE)
    except (OSError, ValueError, KeyError):
        return IMAGENET_MEAN, IMAGENET_STD  # no preprocessor_config.json
    mean = tuple(getattr(processor, "image_mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(processor, "image_std", None) or IMAGENET_STD)
    return mean, std


def hf_backbone(backbone: str, config=None, load_weights: bool = True) -> Backbone:
    """A Hugging Face vision model: its weights and image statistics when ``load_weights``
    (a new run), else only its architecture from ``config`` (a saved run; read from the name
    when None). Its parts, for ``finetune_from``, are the model's top-level children."""
    from transformers import AutoModel

    where = hf_location(backbone)
    with _loading("vision model", backbone):
        if load_weights:
            model = AutoModel.from_pretrained(where, dtype=torch.float32, **NO_REMOTE_CODE)
        else:
            model = AutoModel.from_config(config if config is not None else hf_config(backbone),
                                          **NO_REMOTE_CODE)
    mean, std = _statistics(where) if load_weights else (IMAGENET_MEAN, IMAGENET_STD)
    model = model.float()
    return Backbone([("model", HFGrid(model))], list(model.named_children()), mean, std,
                    cuttable=False)
