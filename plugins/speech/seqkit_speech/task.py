"""The ``speech`` task: the Task value the core finds through the ``seqkit.tasks`` entry point."""
from __future__ import annotations

import time

from seqkit.heads import ctc_loss
from seqkit.metrics import cer, wer
from seqkit.task import Task
from seqkit_speech.config import SpeechConfig
from seqkit_speech.data import SpeechAssets, load_assets, prepare, save_assets
from seqkit_speech.inference import PredictOptions, predict
from seqkit_speech.model import SpeechModel
from seqkit_speech.recognize import BLANK, decode, to_text


def build_model(config: SpeechConfig, assets: SpeechAssets) -> SpeechModel:
    """Front-end, RNN encoder and CTC head, sized by the token set."""
    return SpeechModel(config, assets.tokenizer.vocab_size, assets.stats)


def loss(model: SpeechModel, batch: dict, state):
    """CTC loss of one batch, averaged over its target tokens; items = target tokens."""
    logits, mask = model(batch["audio"], batch["audio_lengths"])
    value = ctc_loss(logits, mask, batch["targets"], batch["target_lengths"], blank=BLANK)
    return value, max(int(batch["target_lengths"].sum()), 1), None


def accuracy(candidates: list[str], references: list[str]) -> float:
    """Share of utterances recognised exactly."""
    return sum(c == r for c, r in zip(candidates, references)) / max(len(references), 1)


def evaluate(model: SpeechModel, batches, config: SpeechConfig, assets: SpeechAssets) -> dict:
    """CTC loss, WER, CER, whole-utterance accuracy, and the real-time factor (seconds of
    recognition, front-end to text, per second of audio) of a split."""
    device = next(model.parameters()).device
    total = items = 0.0
    busy, said, truth = 0.0, [], []
    context = batches.context
    for batch in batches.epoch(0):
        batch = {k: v.to(device) for k, v in batch.items()}
        started = time.perf_counter()
        logits, mask = model(batch["audio"], batch["audio_lengths"])
        ids = decode(logits, mask.sum(1), config.beam)
        busy += time.perf_counter() - started
        value = ctc_loss(logits, mask, batch["targets"], batch["target_lengths"], blank=BLANK)
        count = int(batch["target_lengths"].sum())
        total, items = total + value.item() * count, items + count
        said += [to_text(row, assets.tokenizer) for row in ids]
        truth += [context.texts[i] for i in batch["index"].tolist()]
    seconds = sum(context.seconds)
    return {"loss": total / max(items, 1), "wer": wer(said, truth), "cer": cer(said, truth),
            "accuracy": accuracy(said, truth), "rtf": busy / max(seconds, 1e-9),
            "utterances": float(len(truth)), "audio_s": seconds}


def _demo(run):
    """The Gradio demo; gradio is imported only when it is built."""
    from seqkit_speech.demo import build_demo

    return build_demo(run)


task = Task(name="speech",
            description="speech recognition: log-mel front-end + RNN encoder + CTC, offline "
                        "or streaming",
            config=SpeechConfig, prepare=prepare, build_model=build_model, loss=loss,
            evaluate=evaluate, save_assets=save_assets, load_assets=load_assets,
            predict=predict, predict_options=PredictOptions, demo=_demo, streams=False,
            select="cer", select_max=False)

__all__ = ["accuracy", "build_model", "evaluate", "loss", "task"]
