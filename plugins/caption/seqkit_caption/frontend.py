"""The image front-end of the core ``Encoder``: pixels -> a grid of feature vectors ``(B, S, F)``.

The core encoder runs no RNN over the grid (``hidden_size=0``): the memory the decoder attends
over is the backbone's grid, projected to ``feature_size``, one vector per cell in row-major order,
plus a learnt embedding of the cell's position.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from seqkit.encoder import Encoder
from seqkit.errors import SeqkitError
from seqkit_caption.backbones import Backbone, hf_backbone, is_hf, torchvision_backbone
from seqkit_caption.config import CaptionConfig


def _index(parts: list, name: str, option: str) -> int:
    names = [n for n, _ in parts]
    if name not in names:
        raise SeqkitError(f"{option} '{name}' is not a stage of the backbone; its stages are: "
                          f"{', '.join(names)}")
    return names.index(name)


def _cut(backbone: Backbone, cut_after: str) -> list:
    if not cut_after:
        return backbone.body
    if not backbone.cuttable:
        raise SeqkitError("cut_after applies to torchvision backbones only; set --cut-after '' "
                          "for a Hugging Face model")
    return backbone.body[: _index(backbone.body, cut_after, "cut_after") + 1]


def _frozen_parts(backbone: Backbone, finetune_from: str) -> list[nn.Module]:
    if not finetune_from:
        return []
    if finetune_from == "none":
        return [module for _, module in backbone.body]
    return [module for _, module in backbone.parts[: _index(backbone.parts, finetune_from,
                                                            "finetune_from")]]


class ImageFrontend(nn.Module):
    """Images ``(B, 3, H, W)`` (uint8, or floats in 0..1) -> grid features ``(B, S, F)``.

    ``grid`` is the ``(h, w)`` layout of the S = h * w positions for ``image_size`` images.
    Frozen stages get no gradient and keep their batch-norm statistics (they stay in eval mode).
    """

    def __init__(self, backbone: Backbone, image_size: int, feature_size: int = 0,
                 cut_after: str = "", finetune_from: str = "", positions: bool = True):
        super().__init__()
        body = _cut(backbone, cut_after)
        self.body = nn.Sequential(OrderedDict((n.replace(".", "_"), m) for n, m in body))
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1))
        self._frozen = _frozen_parts(backbone, finetune_from)
        for module in self._frozen:
            module.requires_grad_(False)
        channels, self.grid = self._probe(image_size)
        self.project = (nn.Sequential(nn.Linear(channels, feature_size), nn.ReLU())
                        if feature_size else nn.Identity())
        self.output_size = feature_size or channels
        cells = self.grid[0] * self.grid[1]
        # A learnt vector per grid cell: attention alone cannot tell where a feature lies.
        self.position = (nn.Parameter(torch.randn(1, cells, self.output_size) * 0.02)
                         if positions else None)

    @torch.no_grad()
    def _probe(self, image_size: int) -> tuple[int, tuple[int, int]]:
        """Run one blank image through the body: its channel count and grid layout."""
        was_training = self.body.training
        self.body.eval()
        try:
            grid = self.body(torch.zeros(1, 3, image_size, image_size))
        except (RuntimeError, ValueError) as err:
            raise SeqkitError(f"the backbone cannot take {image_size}x{image_size} images ({err});"
                              " raise --image-size, or cut it earlier with --cut-after") from err
        finally:
            self.body.train(was_training)
        if grid.dim() != 4:
            raise SeqkitError(f"the backbone gives a {grid.dim()}-D output, not a (B, C, h, w) "
                              "grid")
        return grid.size(1), (grid.size(2), grid.size(3))

    def train(self, mode: bool = True) -> "ImageFrontend":
        """Set the mode; frozen stages stay in eval mode."""
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    def forward(self, images: torch.Tensor, lengths: torch.Tensor | None = None):
        """``(B, 3, H, W)`` -> ``(features (B, S, F), None)``: every grid cell is real."""
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        pixels = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        grid = self.body(pixels)  # (B, C, h, w); channels-last convolutions run faster on CPUs
        features = self.project(grid.flatten(2).transpose(1, 2))  # (B, S, F)
        if self.position is not None:
            features = features + self.position
        return features, None


def build_encoder(config: CaptionConfig, hf_config=None, load_weights: bool = True) -> Encoder:
    """The core ``Encoder`` over an ``ImageFrontend``, with no RNN over the grid.

    ``load_weights``: fetch pretrained weights (a new run); a saved run's own weights replace
    them anyway, so rebuilding one passes False and needs no network.
    """
    if is_hf(config.backbone):
        backbone = hf_backbone(config.backbone, hf_config, load_weights)
    else:
        backbone = torchvision_backbone(config.backbone, config.pretrained and load_weights)
    frontend = ImageFrontend(backbone, config.image_size, config.feature_size,
                             config.cut_after, config.finetune_from, config.grid_positions)
    return Encoder(frontend, frontend.output_size, hidden_size=0)
