"""seqkit-caption: image captioning with a CNN grid encoder and an attending RNN decoder.

Train with ``seqkit train --task caption --out runs/caption`` (built-in scenes) or
``--data FOLDER`` (real images: a pretrained EfficientNet-Lite0 encoder, frozen, its features
cached; see ``seqkit_caption.pretrained``); use a trained run from Python::

    import seqkit
    from seqkit_caption import caption_image
    run = seqkit.load("runs/caption")
    print(caption_image(run, "photo.jpg", beam=3).text)
"""
from seqkit_caption.config import CaptionConfig, SceneConfig
from seqkit_caption.data import CaptionAssets
from seqkit_caption.images import open_image, overlay_attention
from seqkit_caption.inference import Caption, PredictOptions, caption_image, caption_images
from seqkit_caption.metrics import bleu, cider_d, exact_match
from seqkit_caption.model import CaptionModel
from seqkit_caption.pretrained import PHOTO_ENCODER, photo_settings
from seqkit_caption.scenes import example_scenes
from seqkit_caption.task import task

__all__ = ["Caption", "CaptionAssets", "CaptionConfig", "CaptionModel", "PredictOptions",
           "PHOTO_ENCODER", "SceneConfig", "bleu", "caption_image", "caption_images", "cider_d",
           "example_scenes", "exact_match", "open_image", "overlay_attention", "photo_settings",
           "task"]
