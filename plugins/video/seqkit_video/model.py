"""The video tagger: a frame CNN (the core's ``FrameFrontend``) under the core's ``Encoder``
RNN, then a per-frame head (the core's ``StepClassifier``)::

    frames (B, T, 3, S, S) uint8 -> frame features (B, T, F) -> with their changes (B, T, 2F)
        -> GRU/LSTM (B, T, H * D) -> logits (B, T, K): a softmax over tags, or a sigmoid per tag

The frame features keep where things are (``FrameFrontend(keep_position=True)``): bounces and
exits happen at the edges of the frame, which a spatial average would blur away. With
``motion`` (the default) the RNN also sees how they changed since the frame before, which pins
down the frame where a shape crosses a border or turns (``with_motion``). With a frozen
backbone the CNN's grids of each clip piece are computed once and cached (by the batch's
``keys``), so later epochs only run the projection, the RNN and the head. With ``mirror``, an
evaluating model also tags every clip mirrored left to right, in the same batch, and averages
the two views' tag probabilities (``mirrored``).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from seqkit.cells import State
from seqkit.encoder import Encoder, lengths_to_mask
from seqkit.heads import StepClassifier
from seqkit.vision import FrameFrontend, load_backbone


class FeatureCache:
    """Backbone grids ``(T_i, C, h, w)`` of up to ``size`` clip pieces, least recently
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


class CachedFrames(nn.Module):
    """The tagger's front-end: ``(frames (B, T, 3, S, S), keys (B,) or None)`` and lengths
    ``(B,)`` -> ``(features (B, T, F), lengths)``.

    With a ``cache`` (a frozen backbone), each clip piece's grids are looked up by its key
    (computed once, then only the projection runs); rows with key -1, or ``keys=None``, run
    the CNN as usual."""

    def __init__(self, frames: FrameFrontend, cache_size: int = 0):
        super().__init__()
        self.frames = frames
        self.cache = FeatureCache(cache_size) if cache_size else None
        self.output_size = frames.output_size

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor | None],
                lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """See the class docstring."""
        frames, keys = inputs
        if self.cache is None or keys is None:
            return self.frames(frames, lengths)[0], lengths
        grids = [self._grid(frames[row, :count], int(keys[row]))
                 for row, count in enumerate(lengths.tolist())]
        features = self.frames.pool(torch.cat(grids))  # (N, F), N real frames
        mask = lengths_to_mask(lengths, frames.size(0), frames.size(1), frames.device)
        out = features.new_zeros(*mask.shape, features.size(-1))
        return out.masked_scatter(mask.unsqueeze(-1), features), lengths

    def _grid(self, frames: torch.Tensor, key: int) -> torch.Tensor:
        """The frozen body's grids ``(t, C, h, w)`` of one clip piece, cached under ``key``."""
        found = self.cache.get(key) if key >= 0 else None
        if found is None:
            with torch.no_grad():
                found = self.frames.body(self.frames.pixels(frames))
            if key >= 0:
                self.cache.put(key, found)
        return found.to(frames.device)


class VideoTagger(nn.Module):
    """Frame CNN -> RNN over time -> per-frame tag logits (see the module docstring)."""

    def __init__(self, frontend: FrameFrontend, num_tags: int, cell: str = "gru",
                 hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = True, multilabel: bool = False, cache_size: int = 0,
                 motion: bool = False, mirror: bool = False):
        """``cache_size`` > 0: the front-end's body is frozen; its grids are cached per clip
        piece; ``motion``: the RNN also sees each frame's change (``with_motion``);
        ``mirror``: in eval mode, average over the clip and its mirror image."""
        super().__init__()
        frames = CachedFrames(frontend, cache_size)
        self.encoder = Encoder(frames, frames.output_size * (2 if motion else 1), cell,
                               hidden_size, num_layers, dropout, bidirectional)
        self.head = StepClassifier(self.encoder.output_size, num_tags, dropout)
        self.drop = nn.Dropout(dropout)  # on the frame features
        self.multilabel, self.bidirectional, self.motion = multilabel, bidirectional, motion
        self.mirror = mirror

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor, state: State | None = None,
                reset: torch.Tensor | None = None, keys: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, State]:
        """Tag every frame: ``logits (B, T, K)`` and the final batch-first state: the RNN's
        (the core encoder's ``state``), then with ``motion`` each row's last frame features.

        ``state`` carries on from the previous chunk of the same clips; rows where
        ``reset (B,)`` is set start afresh (their state is zeroed). With ``mirror`` in eval
        mode, rows ``B..2B-1`` of the state are the mirrored views'."""
        if self.mirror and not self.training:
            return mirrored(self._tag, frames, lengths, state, reset, keys, self.multilabel)
        return self._tag(frames, lengths, state, reset, keys)

    def _tag(self, frames: torch.Tensor, lengths: torch.Tensor, state: State | None,
             reset: torch.Tensor | None, keys: torch.Tensor | None) -> tuple[torch.Tensor, State]:
        """``forward`` on the frames as they are."""
        if state is not None and reset is not None:
            if bool(reset.all()) or state[0].size(0) != frames.size(0):
                state = None
            else:
                keep = ~reset
                state = tuple(part * keep.to(part.dtype).view(-1, *[1] * (part.dim() - 1))
                              for part in state)
        features, lengths = self.encoder.frontend((frames, keys), lengths)
        previous = None
        if self.motion:  # the last element of a carried state: the previous chunk's last frame
            state, previous = (state[:-1], state[-1]) if state is not None else (None, None)
            features, previous = with_motion(features, lengths, previous)
        memory = self.encoder.recur(self.drop(features), lengths, state)
        state = memory.state if previous is None else (*memory.state, previous)
        return self.head(memory), state

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-frame tag probabilities ``(..., K)``: softmax, or a sigmoid per tag."""
        return logits.float().sigmoid() if self.multilabel else logits.float().softmax(-1)


MIRRORED_KEYS = 1 << 40  # added to a clip piece's cache key for its mirror image


def mirrored(tag, frames: torch.Tensor, lengths: torch.Tensor, state: State | None,
             reset: torch.Tensor | None, keys: torch.Tensor | None, multilabel: bool
             ) -> tuple[torch.Tensor, State]:
    """``tag`` run once on the clips and their mirror images (stacked as ``2B`` rows; the
    carried ``state`` has ``2B`` rows too), returning the logits of the two views' mean tag
    probabilities: log-probabilities for a softmax, log-odds for a sigmoid per tag. A mirror
    image is cached under its clip's key plus ``MIRRORED_KEYS``."""
    both = torch.cat([frames, frames.flip(-1)])
    reset = None if reset is None else torch.cat([reset, reset])
    if keys is not None:
        keys = torch.cat([keys, torch.where(keys >= 0, keys + MIRRORED_KEYS, keys)])
    logits, state = tag(both, torch.cat([lengths, lengths]), state, reset, keys)
    logits = logits.float().view(2, frames.size(0), *logits.shape[1:])
    if multilabel:
        return torch.logit(logits.sigmoid().mean(0).clamp(1e-7, 1 - 1e-7)), state
    return logits.softmax(-1).mean(0).clamp_min(1e-30).log(), state


def with_motion(features: torch.Tensor, lengths: torch.Tensor, previous: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each frame's features followed by their change since the frame before:
    ``(B, T, F)`` -> ``(B, T, 2F)``, and each row's last real features ``(B, F)``, the
    ``previous`` of the clip's next chunk. Before a clip's first frame (``previous`` None, or
    a zero row after a reset) the features count as zero, so the change equals the features
    and a clip streamed in chunks gets the same changes as the whole clip."""
    if previous is None:
        previous = features.new_zeros(features.size(0), features.size(-1))
    change = features - torch.cat([previous[:, None], features[:, :-1]], dim=1)
    lengths = lengths.to(features.device)
    rows = torch.arange(features.size(0), device=features.device)
    last = features[rows, (lengths - 1).clamp(min=0)]
    # a row with no frame in this chunk keeps what it had
    return torch.cat([features, change], dim=-1), torch.where((lengths > 0)[:, None], last,
                                                               previous)


def build_tagger(config, num_tags: int, load_weights: bool = True) -> VideoTagger:
    """A ``VideoTagger`` as a ``VideoConfig`` describes it, for ``num_tags`` tags.

    ``load_weights``: fetch a torchvision backbone's pretrained weights (a new run); a saved
    run's weights replace them anyway, so rebuilding one passes False and needs no network."""
    backbone = load_backbone(config.backbone, config.pretrained and load_weights)
    frontend = FrameFrontend(backbone, config.frame_size, config.feature_size,
                             finetune_from="none" if config.freeze_backbone else "",
                             chunk=config.cnn_chunk, keep_position=config.position,
                             keypoints=config.keypoints)
    return VideoTagger(frontend, num_tags, config.cell, config.hidden_size, config.num_layers,
                       config.dropout, config.bidirectional, config.multilabel,
                       config.feature_cache if config.freeze_backbone else 0, config.motion,
                       config.mirror)
