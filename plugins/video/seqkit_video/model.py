"""The video tagger: a frame CNN (the core's ``FrameFrontend``) under the core's RNN, then a
per-frame head (the core's ``StepClassifier``)::

    frames (B, T, 3, S, S) uint8 -> frame features (B, T, F) -> GRU/LSTM (B, T, H * D)
                                 -> logits (B, T, K): a softmax over tags, or a sigmoid per tag

With a frozen backbone the pooled CNN features of each clip piece are computed once and cached
(by the batch's ``keys``), so later epochs only run the projection, the RNN and the head.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from seqkit.cells import State
from seqkit.encoder import Encoder, Memory, lengths_to_mask
from seqkit.heads import StepClassifier
from seqkit.vision import Backbone, FrameFrontend, load_backbone

WHERE = "where"  # the name of the position-keeping stage


class FeatureCache:
    """Pooled backbone features ``(T_i, C)`` of up to ``size`` clip pieces, least recently
    used out first. Kept on the CPU; not part of the weights."""

    def __init__(self, size: int):
        self.size, self.store = size, OrderedDict()

    def get(self, key: int) -> torch.Tensor | None:
        """The cached features of ``key``, or None."""
        if key in self.store:
            self.store.move_to_end(key)
            return self.store[key]
        return None

    def put(self, key: int, value: torch.Tensor) -> None:
        """Keep ``value`` (detached, on the CPU) under ``key``."""
        self.store[key] = value.detach().cpu()
        if len(self.store) > self.size:
            self.store.popitem(last=False)


class VideoTagger(nn.Module):
    """Frame CNN -> RNN over time -> per-frame tag logits (see the module docstring)."""

    def __init__(self, frontend: FrameFrontend, num_tags: int, cell: str = "gru",
                 hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = True, multilabel: bool = False, cache_size: int = 0,
                 trainable_tail: int = 0):
        """``cache_size`` > 0: the body is frozen except its last ``trainable_tail`` stages;
        the frozen stages' output is cached per clip piece."""
        super().__init__()
        self.encoder = Encoder(frontend, frontend.output_size, cell, hidden_size, num_layers,
                               dropout, bidirectional)
        self.drop = nn.Dropout(dropout)
        self.head = StepClassifier(self.encoder.output_size, num_tags, dropout)
        self.multilabel, self.bidirectional = multilabel, bidirectional
        self.cache = FeatureCache(cache_size) if cache_size else None
        self.trainable_tail = trainable_tail

    def frame_features(self, frames: torch.Tensor, lengths: torch.Tensor,
                       keys: torch.Tensor | None = None) -> torch.Tensor:
        """``frames (B, T, 3, S, S)`` -> ``(B, T, F)``; padding frames give zeros."""
        frontend = self.encoder.frontend
        if self.cache is None or keys is None:
            return frontend(frames, lengths)[0]
        stages = list(frontend.body)
        cut = len(stages) - self.trainable_tail
        grids = []
        for row in range(frames.size(0)):
            key, count = int(keys[row]), int(lengths[row])
            found = self.cache.get(key) if key >= 0 else None
            if found is None:
                with torch.no_grad():
                    found = frontend.pixels(frames[row, :count])
                    for stage in stages[:cut]:
                        found = stage(found)
                if key >= 0:
                    self.cache.put(key, found)
            grids.append(found.to(frames.device))
        mask = lengths_to_mask(lengths, frames.size(0), frames.size(1), frames.device)
        grid = torch.cat(grids)
        for stage in stages[cut:]:
            grid = stage(grid)
        pooled = grid.mean(dim=(2, 3))  # (N, C)
        features = frontend.project(pooled)
        out = features.new_zeros(*mask.shape, features.size(-1))
        return out.masked_scatter(mask.unsqueeze(-1), features)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor, state: State | None = None,
                reset: torch.Tensor | None = None, keys: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, State]:
        """Tag every frame: ``logits (B, T, K)`` and the RNN's final batch-first state.

        ``state`` carries on from the previous chunk of the same clips; rows where ``reset
        (B,)`` is set start afresh (their carried state is zeroed)."""
        if state is not None and reset is not None:
            if bool(reset.all()) or state[0].size(0) != frames.size(0):
                state = None
            else:
                keep = (~reset).to(state[0].dtype).view(-1, 1, 1)
                state = tuple(part * keep for part in state)
        features = self.drop(self.frame_features(frames, lengths, keys))
        outputs, state = self.encoder.rnn(features, state, lengths)
        mask = lengths_to_mask(lengths, frames.size(0), frames.size(1), frames.device)
        return self.head(Memory(outputs, mask, state)), state

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-frame tag probabilities ``(..., K)``: softmax, or a sigmoid per tag."""
        return logits.float().sigmoid() if self.multilabel else logits.float().softmax(-1)


def with_position(backbone: Backbone, frame_size: int, width: int) -> Backbone:
    """The backbone plus a last stage, ``where``: a convolution as large as the body's grid,
    so the one vector it gives per frame depends on where things are (averaging the grid over
    space, as the frame front-end does, would lose it). ``(B, C, h, w) -> (B, width, 1, 1)``."""
    body = nn.Sequential(*(module for _, module in backbone.body)).eval()
    with torch.no_grad():
        grid = body(torch.zeros(1, backbone.channels, frame_size, frame_size))
    stage = nn.Sequential(nn.Conv2d(grid.size(1), width, tuple(grid.shape[2:])), nn.ReLU())
    stages = [*backbone.body, (WHERE, stage)]
    return Backbone(stages, [*backbone.parts, (WHERE, stage)], backbone.mean, backbone.std,
                    backbone.cuttable)


def build_tagger(config, num_tags: int, load_weights: bool = True) -> VideoTagger:
    """A ``VideoTagger`` as a ``VideoConfig`` describes it, for ``num_tags`` tags.

    ``load_weights``: fetch a torchvision backbone's pretrained weights (a new run); a saved
    run's weights replace them anyway, so rebuilding one passes False and needs no network."""
    backbone = load_backbone(config.backbone, config.pretrained and load_weights)
    frozen = "none" if config.freeze_backbone else ""
    if config.position:
        backbone = with_position(backbone, config.frame_size, config.feature_size)
        frozen = WHERE if config.freeze_backbone else ""  # the new stage always learns
    frontend = FrameFrontend(backbone, config.frame_size, config.feature_size,
                             finetune_from=frozen, chunk=config.cnn_chunk)
    return VideoTagger(frontend, num_tags, config.cell, config.hidden_size, config.num_layers,
                       config.dropout, config.bidirectional, config.multilabel,
                       config.feature_cache if config.freeze_backbone else 0,
                       trainable_tail=int(config.position))
