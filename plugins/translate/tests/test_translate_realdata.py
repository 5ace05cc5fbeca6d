"""Multi30k (``../shared/data/multi30k``), skipped where the folder is absent."""
from __future__ import annotations

import math

import torch

from seqkit.data import Source
from seqkit_translate import task


def test_multi30k_de_en_reads_trains_and_scores(translate_data, tiny_config):
    """The real layout: gzip train/val files per language, BPE on both sides; a few steps
    lower the loss, and validation reports sacreBLEU with its signature."""
    config = tiny_config({"batch_tokens": 600}, src="de", tgt="en", src_tokenizer="bpe",
                         tgt_tokenizer="bpe", vocab_size=500, eval_sentences=17, beam=2,
                         test_fraction=0.0)
    data = task.prepare(config, Source("folder", path=translate_data / "multi30k"), None)
    assert set(data.splits) == {"train", "valid"}
    valid = data.split("valid").context.data
    assert len(valid) == 1014 and sum(map(len, valid.targets)) == 1014
    assert valid.targets[0] == ["A group of men are loading cotton onto a truck"]
    torch.manual_seed(0)
    model = task.build_model(config, data.assets)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    batches = data.split("train").epoch(0)
    losses = []
    for _ in range(12):
        loss, _, _ = task.loss(model, next(batches), None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0] - 0.5
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model, data.split("valid"), config, data.assets)
    assert metrics["sentences"] == 17 and 0 <= metrics["bleu"] <= 100
    assert "tok:13a" in metrics["bleu_signature"]
