"""The ``translate`` task: the Task value the core finds through the ``seqkit.tasks`` entry point."""
from __future__ import annotations

from pathlib import Path

import torch

from seqkit import metrics as text_metrics
from seqkit.decoding import select_rows
from seqkit.seq2seq import Seq2SeqBatch
from seqkit.task import Task
from seqkit_translate import model as translator
from seqkit_translate.config import TranslateConfig
from seqkit_translate.data import TranslateSplit, prepare
from seqkit_translate.inference import PredictOptions, predict
from seqkit_translate.vocab import TranslateAssets


def build_model(config: TranslateConfig, assets: TranslateAssets) -> translator.TranslateModel:
    """Bidirectional encoder + attending decoder, sized by the two vocabularies."""
    tgt = assets.target
    special = {"bos": tgt.bos_id, "eos": tgt.eos_id, "pad": tgt.pad_id}
    return translator.build_model(config, assets.source.vocab_size, tgt.vocab_size, special,
                                  assets.source.pad_id, assets.shared)


def loss(model: translator.TranslateModel, batch: Seq2SeqBatch, state):
    """Label-smoothed cross-entropy per target token; items = target tokens."""
    out = model(batch)
    return out.loss, out.items, None


def exact_match(candidates: list[str], references: list[list[str]]) -> float:
    """Share of candidates equal to one of their references."""
    return sum(c in refs for c, refs in zip(candidates, references)) / max(len(candidates), 1)


def scores(candidates: list[str], references: list[list[str]], g2p: bool) -> dict:
    """Exact match, and for G2P the word error rate (words with any wrong phoneme) and the
    phoneme error rate (edits over reference phonemes, closest reference); for text sacreBLEU
    BLEU and chrF on detokenised text, with BLEU's signature."""
    out = {"exact_match": exact_match(candidates, references)}
    if g2p:
        out.update(wer=1.0 - out["exact_match"], per=text_metrics.wer(candidates, references))
        return out
    bleu = text_metrics.bleu(candidates, references)
    out.update(bleu=bleu["bleu"], bleu1=bleu["bleu1"], bleu4=bleu["bleu4"],
               brevity_penalty=bleu["brevity_penalty"],
               chrf=text_metrics.chrf(candidates, references)["chrf"],
               bleu_signature=bleu["signature"])
    return out


def scored_rows(count: int, limit: int) -> set[int]:
    """The source rows to decode: all, or ``limit`` of them spread evenly over the split (its
    order may be sorted, as CMUdict is: the first N would all start with "a")."""
    if not limit or limit >= count:
        return set(range(count))
    return {k * count // limit for k in range(limit)}


def evaluate(model: translator.TranslateModel, batches, config: TranslateConfig,
             assets: TranslateAssets) -> dict:
    """Loss over every reference, and the scores of beam-searched translations (of
    ``eval_sentences`` sources spread over the split; all with 0). A split holding several
    named test sets is scored per set too, side by side (``2016_flickr_bleu``, ...)."""
    device = next(model.parameters()).device
    context: TranslateSplit = batches.context
    wanted = scored_rows(len(context.data), config.eval_sentences)
    total = items = 0
    said: dict[int, str] = {}
    for batch in batches.epoch(0):
        batch = batch.to(device)
        memory = model.encode(batch.src, batch.src_lengths)
        terms = model.loss_terms(memory, batch.tgt, batch.owner)
        total, items = total + terms.nll.item() * terms.items, items + terms.items
        rows = [r for r, i in enumerate(batch.index.tolist()) if i in wanted]
        if rows:
            rows_t = torch.tensor(rows, device=device)
            steps = model.max_steps(batch.src_lengths[rows_t], config.max_ratio,
                                    config.max_length)
            ids = model.generate(select_rows(memory, rows_t), config.beam, steps,
                                 config.length_penalty)
            for i, row in zip(batch.index[rows_t].tolist(), ids):
                said[i] = assets.target.decode(row)
    metrics = {"loss": total / max(items, 1), "sentences": float(len(said))}
    for name, first, end in context.groups:
        chosen = [i for i in range(first, end) if i in said]
        if not chosen:
            continue
        result = scores([said[i] for i in chosen], [context.data.targets[i] for i in chosen],
                        context.g2p)
        prefix = f"{name}_" if name else ""
        metrics.update({prefix + key: value for key, value in result.items()})
    return metrics


def save_assets(assets: TranslateAssets, folder) -> None:
    """Write the source and target tokenizers."""
    assets.save(Path(folder))


def load_assets(folder) -> TranslateAssets:
    """Read what ``save_assets`` wrote."""
    return TranslateAssets.load(Path(folder))


def _demo(run):
    """The Gradio demo; gradio is imported only when it is built."""
    from seqkit_translate.demo import build_demo

    return build_demo(run)


task = Task(name="translate",
            description="translation and grapheme-to-phoneme: bidirectional RNN encoder + "
                        "attending decoder, subwords, beam search (built-in: CMUdict G2P)",
            config=TranslateConfig, prepare=prepare, build_model=build_model, loss=loss,
            evaluate=evaluate, save_assets=save_assets, load_assets=load_assets,
            predict=predict, predict_options=PredictOptions, demo=_demo, streams=False)

__all__ = ["build_model", "evaluate", "exact_match", "load_assets", "loss", "save_assets",
           "scores", "task"]
