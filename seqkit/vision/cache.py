"""Cached features of a frozen backbone prefix: train on a few hundred photos in minutes.

A pretrained backbone whose first stages are frozen gives the same output for the same image
every epoch. ``CachedBody`` is a drop-in for a front-end's ``nn.Sequential`` body (same children,
so the same state-dict keys): it runs the leading frozen stages once per distinct input, keeps
their output (in float16, keyed by a hash of the input's bytes), and runs only the trainable
stages after them on every call::

    frontend = ImageGrid(backbone, 224, finetune_from="none")
    frontend.body = CachedBody(frontend.body, capacity=5000)
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from torch import nn


def frozen_prefix(body: nn.Sequential) -> int:
    """How many leading stages of ``body`` have no trainable parameter."""
    count = 0
    for stage in body:
        if any(p.requires_grad for p in stage.parameters()):
            break
        count += 1
    return count


def _key(row: torch.Tensor) -> bytes:
    """A digest of one input ``(C, H, W)``: its shape, dtype and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{tuple(row.shape)}{row.dtype}".encode())
    digest.update(row.detach().contiguous().cpu().numpy().tobytes())
    return digest.digest()


class CachedBody(nn.Sequential):
    """``nn.Sequential`` over a body's stages that caches the output of its frozen prefix.

    ``capacity``: most inputs kept (0: no caching). Inputs are added in training mode only
    (a demo or ``predict`` grows no memory); evaluation reads what training kept. The cache is
    a plain dict, not a buffer: it never enters a checkpoint. It is valid while the prefix
    stays frozen, which ``frozen_prefix`` decides once, here (freeze before wrapping).
    """

    def __init__(self, body: nn.Sequential, capacity: int):
        super().__init__(OrderedDict(body.named_children()))
        self.prefix = frozen_prefix(self) if capacity > 0 else 0
        self.capacity = capacity
        self.cache: dict[bytes, torch.Tensor] = {}

    def _frozen(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> the prefix's output ``(N, F, h, w)``, from the cache where kept."""
        keys = [_key(row) for row in inputs]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        fresh = {}
        if missing:
            with torch.no_grad():
                out = inputs[missing]
                for stage in list(self)[: self.prefix]:
                    out = stage(out)
            fresh = {keys[i]: row for i, row in zip(missing, out)}
            for i in missing:  # kept in training only: predicting grows no memory
                if self.training and len(self.cache) < self.capacity:
                    self.cache[keys[i]] = fresh[keys[i]].to(torch.float16)
        dtype = next(iter(fresh.values())).dtype if fresh else torch.float32
        rows = [fresh[k] if k in fresh else self.cache[k].to(dtype) for k in keys]
        return torch.stack(rows).contiguous(memory_format=torch.channels_last)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> the body's output, the frozen prefix's part cached."""
        if not self.prefix:
            return super().forward(inputs)
        out = self._frozen(inputs)
        for stage in list(self)[self.prefix:]:
            out = stage(out)
        return out
