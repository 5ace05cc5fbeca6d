"""The ``caption`` task: the Task value the core finds through the ``seqkit.tasks`` entry point."""
from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

from seqkit.errors import SeqkitError
from seqkit.rundir import read_config, write_json
from seqkit.seq2seq import Seq2SeqBatch
from seqkit.task import Task
from seqkit.tokenizers import TextTokenizer
from seqkit.vision import hf_config, is_hf
from seqkit_caption import model as captioner
from seqkit_caption.config import CaptionConfig
from seqkit_caption.data import CaptionAssets, prepare
from seqkit_caption.inference import PredictOptions, predict
from seqkit_caption.metrics import bleu, caption_metrics, cider_d, exact_match

BASELINE_FILE, ENCODER_DIR = "baseline.json", "encoder"
# training images that re-estimate the encoder's batch-norm statistics (the default bank holds
# 1,000): from 256 the estimates were noisy enough to cost one run 12 points of exact match
CALIBRATION_IMAGES = 1024


def build_model(config: CaptionConfig, assets: CaptionAssets) -> captioner.CaptionModel:
    """Encoder (backbone grid) + attending decoder, sized by the vocabulary and the bank."""
    encoder = captioner.build_encoder(config, assets.hf_config,
                                      load_weights=not assets.from_run)
    tok = assets.tokenizer
    special = {"bos": tok.bos_id, "eos": tok.eos_id, "pad": tok.pad_id}
    return captioner.build_model(config, encoder, tok.vocab_size, special,
                                 len(assets.bank_captions))


def loss(model: captioner.CaptionModel, batch: Seq2SeqBatch, state):
    """Cross-entropy per token plus lambda times the doubly stochastic attention penalty (the
    model's forward adds them, so this reads through DDP and ``torch.compile`` wrappers)."""
    out = model(batch)
    return out.loss, out.items, None


def evaluate(model: captioner.CaptionModel, batches, config: CaptionConfig,
             assets: CaptionAssets) -> dict:
    """Loss, BLEU-1..4 and CIDEr-D of beam-searched captions (exact match on the built-in
    scenes), and the same for the nearest-neighbour baseline where the bank is known.

    With the run's own training images at hand (during training, or ``seqkit eval`` on the same
    data) and an encoder changed since the bank was filled, it first re-estimates the encoder's
    batch-norm statistics on up to ``CALIBRATION_IMAGES`` of them and refills the bank: both then
    match the weights.
    """
    device = next(model.parameters()).device
    bank = batches.context.bank
    if bank is not None and model.bank.numel() and not model.bank_ready():
        size = config.train.batch_size
        count = -(-CALIBRATION_IMAGES // size)  # batches
        model.recalibrate_norms(islice(bank.batches(size, device), count))
        model.fill_bank(bank.batches(size, device))
    use_bank = model.bank_ready()
    references = batches.context.captions
    ce_sum = penalty_sum = 0.0
    items = captions = 0
    candidates, neighbours, refs = [], [], []
    for batch in batches.epoch(0):
        batch = batch.to(device)
        memory = model.encode(batch.src, batch.src_lengths)
        terms = model.loss_terms(memory, batch.tgt, batch.owner)
        ce_sum, items = ce_sum + terms.nll.item() * terms.items, items + terms.items
        rows = batch.tgt.size(0)
        penalty_sum, captions = penalty_sum + terms.penalty.item() * rows, captions + rows
        for ids in model.generate(memory, config.beam, config.max_length):
            candidates.append(assets.tokenizer.decode(ids))
        if use_bank:
            nearest = model.nearest(model.pooled(memory)).tolist()
            neighbours += [assets.bank_captions[i] for i in nearest]
        refs += [references[i] for i in batch.index.tolist()]
    metrics = {"loss": ce_sum / max(items, 1), "attention_penalty": penalty_sum / max(captions, 1),
               "images": float(len(candidates)), **caption_metrics(candidates, refs)}
    if use_bank:
        metrics.update(baseline_bleu4=bleu(neighbours, refs),
                       baseline_cider=cider_d(neighbours, refs))
    if batches.context.scenes:
        metrics["exact_match"] = exact_match(candidates, refs)
        if use_bank:
            metrics["baseline_exact_match"] = exact_match(neighbours, refs)
    return metrics


def save_assets(assets: CaptionAssets, folder) -> None:
    """tokenizer.json, baseline.json (the bank's captions) and, for a Hugging Face backbone,
    its config in encoder/ (so the run loads without the hub)."""
    folder = Path(folder)
    assets.tokenizer.save(folder)
    write_json(folder / BASELINE_FILE, {"captions": assets.bank_captions})
    if assets.hf_config is not None:
        assets.hf_config.save_pretrained(folder / ENCODER_DIR)


def load_assets(folder) -> CaptionAssets:
    """Read what ``save_assets`` wrote."""
    folder = Path(folder)
    path = folder / BASELINE_FILE
    if not path.is_file():
        raise SeqkitError(f"{path} is missing: {folder} is not a caption run")
    bank = json.loads(path.read_text())["captions"]
    # encoder/ matters only to a Hugging Face backbone: any other run never reads it, so a
    # folder planted there cannot make transformers load (or ask to run) code
    backbone = read_config(folder)["config"].get("backbone", "")
    hf = hf_config(str(folder / ENCODER_DIR)) if is_hf(str(backbone)) else None
    return CaptionAssets(TextTokenizer.load(folder), bank, hf, from_run=True)


def _demo(run):
    """The Gradio demo; gradio is imported only when it is built."""
    from seqkit_caption.demo import build_demo

    return build_demo(run)


task = Task(name="caption",
            description="image captioning: CNN grid encoder + attending LSTM decoder (Show, "
                        "Attend and Tell)",
            config=CaptionConfig, prepare=prepare, build_model=build_model, loss=loss,
            evaluate=evaluate, save_assets=save_assets, load_assets=load_assets,
            predict=predict, predict_options=PredictOptions, demo=_demo, streams=False,
            select="cider", select_max=True)

__all__ = ["build_model", "evaluate", "load_assets", "loss", "save_assets", "task"]
