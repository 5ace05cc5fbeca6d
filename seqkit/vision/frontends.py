"""Vision front-ends of the core ``Encoder``, both ``(inputs, lengths) -> (features, lengths)``:

- ``ImageGrid``: images ``(B, C, H, W)`` -> a grid of feature vectors ``(B, S, F)`` (captioning:
  the decoder attends over the grid cells);
- ``FrameFrontend``: clips ``(B, T, C, H, W)`` with lengths ``(B,)`` -> one vector per frame
  ``(B, T, F)`` (video tagging: an RNN runs over the frames), pooled over the grid or, with
  ``keep_position``, projected from the whole grid so that it still says where things are.

Both normalise pixels with the backbone's statistics, and keep frozen stages frozen: no gradient,
and in eval mode so that their batch-norm statistics never move.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from seqkit.encoder import lengths_to_mask
from seqkit.errors import SeqkitError
from seqkit.vision.backbones import Backbone, cut, frozen_parts, load_backbone


class BackboneBody(nn.Module):
    """The shared part of the vision front-ends: a (cut, partly frozen) backbone body and
    its pixel normalisation. Frozen stages stay in eval mode whatever ``train()`` is told."""

    def __init__(self, backbone: Backbone, cut_after: str = "", finetune_from: str = ""):
        super().__init__()
        body = cut(backbone, cut_after)
        self.body = nn.Sequential(OrderedDict((n.replace(".", "_"), m) for n, m in body))
        channels = backbone.channels
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(backbone.std).view(1, channels, 1, 1))
        self._frozen = frozen_parts(backbone, finetune_from)
        for module in self._frozen:
            module.requires_grad_(False)

    @property
    def frozen(self) -> bool:
        """Whether the whole body is frozen: its features never change, so they may be cached."""
        return not any(p.requires_grad for p in self.body.parameters())

    def train(self, mode: bool = True):
        """Set the mode; frozen stages stay in eval mode."""
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` uint8, or floats in 0..1 -> normalised floats, channels-last
        (convolutions run faster so on CPUs)."""
        if images.size(1) != self.mean.size(1):
            raise SeqkitError(f"the backbone takes {self.mean.size(1)} colour channels, not "
                              f"{images.size(1)}: convert the images, or pick a backbone for "
                              "that many channels")
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def probe(self, height: int, width: int) -> torch.Size:
        """The ``(1, F, h, w)`` shape the body gives for one blank ``height x width`` image."""
        was_training = self.body.training
        self.body.eval()
        try:
            grid = self.body(torch.zeros(1, self.mean.size(1), height, width))
        except (RuntimeError, ValueError) as err:
            raise SeqkitError(f"the backbone cannot take {height}x{width} images ({err}); use "
                              "larger images, or cut the backbone earlier (cut_after)") from err
        finally:
            self.body.train(was_training)
        if grid.dim() != 4:
            raise SeqkitError(f"the backbone gives a {grid.dim()}-D output, not a (B, C, h, w) "
                              "grid")
        return grid.shape


def _projection(channels: int, feature_size: int) -> nn.Module:
    """``Linear + ReLU`` to ``feature_size``; the identity when it is 0."""
    if not feature_size:
        return nn.Identity()
    return nn.Sequential(nn.Linear(channels, feature_size), nn.ReLU())


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class ImageGrid(BackboneBody):
    """Images ``(B, C, H, W)`` (uint8, or floats in 0..1) -> grid features ``(B, S, F)``.

    ``grid`` is the ``(h, w)`` layout of the S = h * w cells (row-major) for ``image_size``
    images; ``F`` is ``feature_size``, or the backbone's channels when it is 0. ``positions``
    adds a learnt vector per cell: attention alone cannot tell where a feature lies.
    """

    def __init__(self, backbone: Backbone, image_size: int | tuple[int, int],
                 feature_size: int = 0, cut_after: str = "", finetune_from: str = "",
                 positions: bool = True):
        super().__init__(backbone, cut_after, finetune_from)
        _, channels, *grid = self.probe(*_size(image_size))
        self.grid = (grid[0], grid[1])
        self.project = _projection(channels, feature_size)
        self.output_size = feature_size or channels
        cells = self.grid[0] * self.grid[1]
        self.position = (nn.Parameter(torch.randn(1, cells, self.output_size) * 0.02)
                         if positions else None)

    def forward(self, images: torch.Tensor, lengths: torch.Tensor | None = None):
        """``(B, C, H, W)`` -> ``(features (B, S, F), None)``: every grid cell is real."""
        grid = self.body(self.pixels(images))  # (B, F, h, w)
        features = self.project(grid.flatten(2).transpose(1, 2))  # (B, S, F)
        if self.position is not None:
            features = features + self.position
        return features, None


def keypoints(grid: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` -> ``(N, 2C)``: each channel's expected ``x`` then ``y`` (from -1 to 1
    across the grid) under a softmax over its cells (a spatial soft-argmax). Where a channel
    fires comes out as a coordinate, to a fraction of a cell. Once the channel fires a few
    units above its other cells the softmax saturates and firing harder no longer moves it
    (so a shape's contrast hardly does); a weak response is pulled toward the centre."""
    n, c, h, w = grid.shape
    weights = grid.float().flatten(2).softmax(-1).view(n, c, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=grid.device)
    ys = torch.linspace(-1.0, 1.0, h, device=grid.device)
    x = (weights.sum(2) * xs).sum(-1)
    y = (weights.sum(3) * ys).sum(-1)
    return torch.cat([x, y], dim=1).to(grid.dtype)


class FrameFrontend(BackboneBody):
    """Clips ``(B, T, C, H, W)`` (uint8, or floats in 0..1) with lengths ``(B,)`` -> per-frame
    features ``(B, T, F)``: the body's grid averaged over space, optionally projected.

    ``keep_position``: instead of averaging, the whole ``(C, h, w)`` grid goes through one
    ``Linear(C * h * w, F) + ReLU`` (a learnt weight per cell and channel), so that the
    vector depends on *where* things are in the frame, which averaging would lose (a shape
    at the left edge and one at the right give the same mean). Needs ``feature_size`` > 0
    and frames of ``frame_size``, the size the grid was measured at. ``keypoints``: each
    channel's soft-argmax over the grid (``keypoints``), its x and y, goes into the projection
    too: where a channel fires, which a clear response gives nearly whatever its strength.

    Only the real frames (``t < lengths[b]``) go through the CNN, so padding never enters the
    batch-norm statistics nor costs time; padding frames come out as zeros. ``chunk`` > 0 runs
    at most that many frames through the CNN at once (bounded memory on long clips).
    """

    def __init__(self, backbone: Backbone, frame_size: int | tuple[int, int],
                 feature_size: int = 0, cut_after: str = "", finetune_from: str = "",
                 chunk: int = 0, keep_position: bool = False, keypoints: bool = False):
        super().__init__(backbone, cut_after, finetune_from)
        _, channels, *grid = self.probe(*_size(frame_size))
        if (keep_position or keypoints) and not feature_size:
            raise SeqkitError("keep_position and keypoints project to feature_size values: "
                              "give feature_size > 0")
        self.grid = (grid[0], grid[1]) if keep_position else None  # (h, w) the weights expect
        self.keypoints = keypoints
        inputs = channels * grid[0] * grid[1] if keep_position else channels
        self.project = _projection(inputs + (2 * channels if keypoints else 0), feature_size)
        self.output_size = feature_size or channels
        self.chunk = chunk

    def pool(self, grid: torch.Tensor) -> torch.Tensor:
        """The body's output ``(N, C, h, w)`` -> ``(N, F)``: averaged over space and
        projected, or with ``keep_position`` the whole grid projected; with ``keypoints``
        each channel's x and y go into the projection too."""
        if self.grid is None:
            pooled = grid.mean(dim=(2, 3))
        elif tuple(grid.shape[2:]) != self.grid:
            raise SeqkitError(f"frames give a {tuple(grid.shape[2:])} grid, but this "
                              f"position-keeping front-end was built for {self.grid}: resize "
                              "the frames to the frame size it was built for")
        else:
            pooled = grid.flatten(1)
        if self.keypoints:
            pooled = torch.cat([pooled, keypoints(grid)], dim=1)
        return self.project(pooled)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` frames -> ``(N, F)`` features, ``chunk`` frames at a time."""
        pixels = self.pixels(frames)
        pieces = pixels.split(self.chunk) if self.chunk > 0 else (pixels,)
        return torch.cat([self.pool(self.body(piece)) for piece in pieces])

    def forward(self, clips: torch.Tensor, lengths: torch.Tensor | None = None):
        """``(B, T, C, H, W)``, ``(B,)`` or None (all real) -> ``(features (B, T, F), lengths)``."""
        if clips.dim() != 5:
            raise SeqkitError(f"frames must come as clips (B, T, C, H, W), not a "
                              f"{clips.dim()}-D tensor of shape {tuple(clips.shape)}")
        batch, steps = clips.shape[:2]
        real = lengths_to_mask(lengths, batch, steps, clips.device)  # (B, T)
        out = torch.zeros(batch, steps, self.output_size, device=clips.device,
                          dtype=self.mean.dtype)
        if real.any():
            features = self.frame_features(clips[real])  # (N, F), N real frames
            out = out.to(features.dtype).masked_scatter(real.unsqueeze(-1), features)
        return out, lengths


def frame_frontend(backbone: str = "small_cnn", frame_size: int | tuple[int, int] = 64,
                   pretrained: bool = False, feature_size: int = 0, cut_after: str = "",
                   finetune_from: str = "", chunk: int = 0,
                   keep_position: bool = False, keypoints: bool = False) -> FrameFrontend:
    """A ``FrameFrontend`` over the backbone ``backbone`` names (see ``load_backbone``);
    ``finetune_from="none"`` freezes the whole backbone."""
    return FrameFrontend(load_backbone(backbone, pretrained), frame_size, feature_size,
                         cut_after, finetune_from, chunk, keep_position, keypoints)
