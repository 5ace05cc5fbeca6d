"""The ``video`` task: the Task value the core finds through the ``seqkit.tasks`` entry point.

The task streams (``streams=True``): ``loss`` always returns the RNN's final state, and
``fit()`` carries it into the next batch. Whole-clip batches mark every row ``reset``, so the
state is dropped there; streaming batches (``stream=True``) continue each row's clip, which is
truncated BPTT over long videos.
"""
from __future__ import annotations

from pathlib import Path

import torch

from seqkit.encoder import lengths_to_mask
from seqkit.heads import masked_step_loss, multilabel_step_loss
from seqkit.rundir import unwrap
from seqkit.task import Task
from seqkit_video.config import VideoConfig
from seqkit_video.data import VideoAssets, prepare
from seqkit_video.inference import PredictOptions, predict
from seqkit_video.metrics import multilabel_metrics, segmentation_metrics
from seqkit_video.model import VideoTagger, build_tagger
from seqkit_video.smoothing import smooth_labels, smooth_multilabel


def build_model(config: VideoConfig, assets: VideoAssets) -> VideoTagger:
    """Frame CNN + RNN + per-frame head, sized by the tag vocabulary."""
    return build_tagger(config, len(assets.tags), load_weights=not assets.from_run)


def _mask(batch: dict) -> torch.Tensor:
    """``(B, T)`` real frames of real rows (idle streaming rows have index -1)."""
    frames = batch["frames"]
    mask = lengths_to_mask(batch["lengths"], frames.size(0), frames.size(1), frames.device)
    return mask & (batch["index"] >= 0).unsqueeze(1)


def _run(model: VideoTagger, batch: dict, state):
    """(logits (B, T, K), mean loss, frames, state) of one batch."""
    logits, state = model(batch["frames"], batch["lengths"], state, batch["reset"],
                          batch.get("keys"))
    mask = _mask(batch)
    step_loss = multilabel_step_loss if unwrap(model).multilabel else masked_step_loss
    return logits, step_loss(logits, batch["targets"], mask), int(mask.sum()), state


def loss(model: VideoTagger, batch: dict, state):
    """Mean per-frame cross-entropy (softmax) or binary cross-entropy per tag (multi-label)."""
    _, value, items, state = _run(model, batch, state)
    return value, items, state


def evaluate(model: VideoTagger, batches, config: VideoConfig, assets: VideoAssets) -> dict:
    """Loss per frame and the segmentation metrics (``seqkit_video.metrics``) of the
    predictions, smoothed by Viterbi when ``config.smoothing`` > 0."""
    device = next(model.parameters()).device
    tagger = unwrap(model)
    total, frames = 0.0, 0
    scores, predicted, truth = [], [], []
    for batch in batches.epoch(0):
        batch = {k: v.to(device) for k, v in batch.items()}
        logits, value, items, _ = _run(model, batch, None)
        total, frames = total + value.item() * items, frames + items
        probs = tagger.probabilities(logits).cpu()
        for row, length in enumerate(batch["lengths"].tolist()):
            p, y = probs[row, :length], batch["targets"][row, :length].cpu()
            if tagger.multilabel:
                scores.append(p)
                predicted.append(smooth_multilabel(p, config.smoothing))
                truth.append(y)
            else:
                predicted.append(smooth_labels(p, config.smoothing).tolist())
                truth.append(y.tolist())
    out = {"loss": total / max(frames, 1), "frames": float(frames), "clips": float(len(truth))}
    if tagger.multilabel:  # scores for mAP, smoothed on/off decisions for the rest
        return {**out, **multilabel_metrics(scores, truth, 0, decisions=predicted)}
    return {**out, **segmentation_metrics(predicted, truth, background=0)}


def save_assets(assets: VideoAssets, folder) -> None:
    """``tags.json``."""
    assets.save(Path(folder))


def load_assets(folder) -> VideoAssets:
    """Read ``tags.json``; the run's weights come from the run, never downloaded."""
    return VideoAssets.load(Path(folder))


def _demo(run):
    """The Gradio demo; gradio is imported only when it is built."""
    from seqkit_video.demo import build_demo

    return build_demo(run)


task = Task(name="video",
            description="frame-wise video tagging: frame CNN + bidirectional GRU/LSTM + "
                        "per-frame head (single- or multi-label)",
            config=VideoConfig, prepare=prepare, build_model=build_model, loss=loss,
            evaluate=evaluate, save_assets=save_assets, load_assets=load_assets,
            predict=predict, predict_options=PredictOptions, demo=_demo, streams=True,
            select="frame_accuracy", select_max=True)

__all__ = ["build_model", "evaluate", "load_assets", "loss", "save_assets", "task"]
