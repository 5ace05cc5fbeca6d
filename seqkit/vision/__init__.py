"""Vision front-ends shared by the plugins that see images (captioning) or frames (video).

Importing this package imports neither torchvision nor transformers: they load only when a
backbone is built. The pieces::

    backbone = load_backbone("resnet18")            # or "small_cnn", "hf:ID", a model folder
    grid = ImageGrid(backbone, image_size=64)       # (B, 3, H, W) -> (B, S, F), for attention
    frames = FrameFrontend(small_cnn(), 64)         # (B, T, C, H, W), (B,) -> (B, T, F)
    encoder = seqkit.encoder.Encoder(frames, frames.output_size, "gru", 32)
"""
from seqkit.vision.backbones import (IMAGENET_MEAN, IMAGENET_STD, SMALL_CNN, Backbone, cut,
                                     frozen_parts, known_backbones, load_backbone, small_cnn,
                                     stages_of, torchvision_backbone)
from seqkit.vision.frontends import BackboneBody, FrameFrontend, ImageGrid, frame_frontend
from seqkit.vision.hf import HFGrid, hf_backbone, hf_config, hf_location, is_hf

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "SMALL_CNN", "Backbone", "BackboneBody",
           "FrameFrontend", "HFGrid", "ImageGrid", "cut", "frame_frontend", "frozen_parts",
           "hf_backbone", "hf_config", "hf_location", "is_hf", "known_backbones",
           "load_backbone", "small_cnn", "stages_of", "torchvision_backbone"]
