"""The captioner's image encoder: the core ``Encoder`` over the core ``ImageGrid`` front-end.

The encoder runs no RNN over the grid (``hidden_size=0``): the memory the decoder attends over is
the backbone's grid, projected to ``feature_size``, one vector per cell in row-major order, plus
a learnt embedding of the cell's position. Backbones and front-ends live in ``seqkit.vision``.
The output of the backbone's leading frozen stages is cached per image (``CachedBody``): with a
frozen pretrained backbone, each training image goes through it once.
"""
from __future__ import annotations

from seqkit.encoder import Encoder
from seqkit.vision import ImageGrid, load_backbone
from seqkit.vision.cache import CachedBody
from seqkit_caption.config import CaptionConfig


def build_encoder(config: CaptionConfig, hf_config=None, load_weights: bool = True) -> Encoder:
    """The core ``Encoder`` over an ``ImageGrid`` of ``config.backbone``, with no RNN.

    ``load_weights``: fetch pretrained weights (a new run); a saved run's own weights replace
    them anyway, so rebuilding one passes False (with the run's ``hf_config`` for a Hugging Face
    backbone) and needs no network.
    """
    backbone = load_backbone(config.backbone, config.pretrained, hf_config, load_weights)
    frontend = ImageGrid(backbone, config.image_size, config.feature_size, config.cut_after,
                         config.finetune_from, config.grid_positions)
    frontend.body = CachedBody(frontend.body, config.cache_features)  # same stages, same keys
    return Encoder(frontend, frontend.output_size, hidden_size=0)
